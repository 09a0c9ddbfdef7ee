// Porch's docs page: starts Swagger UI (swagger-ui/, vendored) on the application's OpenAPI
// document. A file of its own rather than an inline script, so that the page's
// Content-Security-Policy can allow scripts from 'self' alone.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    // The page names the document, with the application's root path (behind a proxy).
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // Swagger UI would otherwise send the document to validator.swagger.io for a badge.
    validatorUrl: null,
  });
})();
