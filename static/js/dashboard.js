// Draws the dashboard's revenue chart from the JSON the server rendered into the page (no inline script: CSP).
document.addEventListener("DOMContentLoaded", () => {
  const data = document.getElementById("revenue-chart-data");
  const target = document.getElementById("revenue-chart");
  if (!data || !target || !window.Plotly) return;
  const figure = JSON.parse(data.textContent);
  if (!figure.data || figure.data.length === 0) return;
  window.Plotly.newPlot(target, figure.data, figure.layout, { displayModeBar: false, responsive: true });
});
