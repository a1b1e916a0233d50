function sortBy(th) {
  var table = th.closest("table"), col = +th.getAttribute("data-col");
  var asc = th.getAttribute("aria-sort") !== "ascending", num = th.getAttribute("data-type") === "num";
  table.querySelectorAll("th[data-col]").forEach(function (h) { h.removeAttribute("aria-sort"); });
  th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  table.querySelectorAll("tbody.rows").forEach(function (tb) {
    var rows = Array.prototype.slice.call(tb.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      var c = num ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { tb.appendChild(r); });
  });
}
document.querySelectorAll("table.sortable th[data-col]").forEach(function (th) {
  th.tabIndex = 0;
  th.addEventListener("click", function () { sortBy(th); });
  th.addEventListener("keydown", function (e) {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); }
  });
});
