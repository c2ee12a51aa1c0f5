// Starts the interactive API page; kept out of the HTML so that the CSP needs no inline script.
const target = document.getElementById("swagger-ui");
window.SwaggerUIBundle({ url: target.dataset.spec, domNode: target, deepLinking: true });
