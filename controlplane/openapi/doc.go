// Package openapi owns the OpenAPI 3.1 document of the /v1 API (served at
// /v1/openapi.json) and Swagger UI (served at /docs from the embedded
// swagger-ui-dist files, with a deep link per method). The document is
// built from the operation table in spec.go; a golden file guards its
// output and the controlplane tests check it against the registered routes.
package openapi
