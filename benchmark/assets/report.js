"use strict";
// bench report: sortable tables, the modality filter, and the paired-test picker. Reads data only through
// JSON.parse and writes only through textContent, so no name in a result can become markup.
(function () {
  var data = JSON.parse(document.getElementById("bench-data").textContent);

  function sortValue(cell) {
    if (!cell) { return null; }
    var v = cell.getAttribute("data-sort");
    if (v !== null) { return v === "" ? null : parseFloat(v); }
    return cell.textContent.trim().toLowerCase();
  }

  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
    if (th.getAttribute("aria-sort") === null && !th.classList.contains("num")) { dir = "ascending"; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortValue(a.cells[col]), y = sortValue(b.cells[col]);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }   // missing values always last
      if (y === null) { return -1; }
      var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
      return dir === "ascending" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () { sortBy(table, col, th); });
    });
  });

  // The benchmark views switch by CSS alone (radio tabs); the modality filter hides other modalities' rows.
  function applyFilters() {
    var modality = document.getElementById("filter-modality").value;
    Array.prototype.forEach.call(document.querySelectorAll("tr[data-modality]"), function (r) {
      r.classList.toggle("hidden", modality !== "" && r.getAttribute("data-modality") !== modality);
    });
  }
  var modalitySel = document.getElementById("filter-modality");
  if (modalitySel) { modalitySel.addEventListener("change", applyFilters); }

  // Paired-test picker: choose a task and two upstreams, see A - B and the p-value.
  var taskSel = document.getElementById("cmp-task");
  if (!taskSel) { return; }
  var aSel = document.getElementById("cmp-a"), bSel = document.getElementById("cmp-b");
  var out = document.getElementById("cmp-out");
  function fill(sel, values) {
    while (sel.firstChild) { sel.removeChild(sel.firstChild); }
    values.forEach(function (v) { var o = document.createElement("option"); o.value = v; o.textContent = v; sel.appendChild(o); });
  }
  function unique(xs) { return xs.filter(function (x, i) { return xs.indexOf(x) === i; }); }
  fill(taskSel, unique(data.comparisons.map(function (c) { return c.task; })));
  function upstreamsOf(task) {
    var names = [];
    data.comparisons.forEach(function (c) { if (c.task === task) { names.push(c.a, c.b); } });
    return unique(names);
  }
  function onTask() {
    var names = upstreamsOf(taskSel.value);
    fill(aSel, names); fill(bSel, names);
    if (names.length > 1) { bSel.value = names[1]; }
    show();
  }
  function show() {
    var t = taskSel.value, a = aSel.value, b = bSel.value;
    if (a === b) { out.textContent = "pick two different upstreams"; return; }
    var hit = data.comparisons.filter(function (c) { return c.task === t && ((c.a === a && c.b === b) || (c.a === b && c.b === a)); })[0];
    if (!hit) { out.textContent = "no paired test (no shared seed with per-example predictions)"; return; }
    var d = hit.a === a ? hit.difference : -hit.difference;
    out.textContent = a + " − " + b + " = " + (d >= 0 ? "+" : "") + d.toFixed(2) + " points, p = " + hit.p_value.toFixed(4) +
      " (" + hit.seeds.length + " seed" + (hit.seeds.length > 1 ? "s" : "") + ", " + hit.n_examples + " examples)";
  }
  taskSel.addEventListener("change", onTask);
  aSel.addEventListener("change", show);
  bSel.addEventListener("change", show);
  onTask();
})();
