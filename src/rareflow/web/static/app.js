// Draws the dashboard's charts from their figure JSON, with the plotly.js the package ships.
window.addEventListener("load", function () {
  if (!window.Plotly) return;
  document.querySelectorAll("[data-figure]").forEach(function (div) {
    var spec = JSON.parse(document.getElementById(div.dataset.figure).textContent);
    spec.layout = Object.assign({autosize: true, template: null, font: {size: 12}}, spec.layout);
    Plotly.newPlot(div, spec.data, spec.layout, {displaylogo: false, responsive: true});
  });
});
