// Package openapi owns the OpenAPI 3.1 document of the /v1 API (served at
// /v1/openapi.json) and Swagger UI (served at /docs from the embedded
// swagger-ui-dist files, with a deep link per method). Document builds the
// document from the operations the API's route table declares (package
// api, which imports this one for the Operation type); the schemas the
// operations name are here. A golden file guards the output.
package openapi
