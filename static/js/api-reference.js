// The API reference page (/api/v1/docs): Swagger UI over the generated /api/v1/openapi.json.
// Loaded as a file (the CSP allows only same-origin scripts, no inline code).
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("api-reference");
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    tryItOutEnabled: false,
    validatorUrl: null,
    persistAuthorization: false,
  });
});
