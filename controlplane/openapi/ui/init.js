// Swagger UI for the Spacecast API; deepLinking gives every method a link
// (/docs/#/<tag>/<operationId>).
window.ui = SwaggerUIBundle({
  url: "/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  displayOperationId: true,
  tryItOutEnabled: false,
});
