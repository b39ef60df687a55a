/* Starts Swagger UI on a page whose #swagger-ui element names the spec (data-spec-url). */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof SwaggerUIBundle === "undefined") { return; }
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    // BaseLayout: the standalone layout's top bar draws a logo with inline styles, which the
    // Content-Security-Policy (style-src 'self') refuses.
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null
  });
}());
