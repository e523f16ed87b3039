// Starts the vendored Swagger UI on /api/docs. "Try it out" calls the API with the page's session, so
// unsafe methods carry the CSRF token the page was rendered with.
const root = document.getElementById("swagger-ui");

window.SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  domNode: root,
  deepLinking: true,
  layout: "BaseLayout",
  validatorUrl: null,
  presets: [window.SwaggerUIBundle.presets.apis],
  requestInterceptor: (request) => {
    request.headers["X-CSRFToken"] = root.dataset.csrfToken;
    return request;
  },
});
