/* Satisfaction figures for staff: GET api/care (the server checks the staff session).
 * Everything is set with textContent: stored questions are citizens' words, never HTML. */
(function () {
  "use strict";

  var section = document.getElementById("care");
  var body = document.getElementById("care-body");
  var refresh = document.getElementById("care-refresh");
  var RATINGS = ["satisfied", "neutral", "dissatisfied"];

  function el(tag, text) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function rate(value) {
    return value === null || value === undefined ? "-" : Math.round(value * 100) + "%";
  }

  /* A rate bar: green from 80 %, amber from 60 %, red below, so a weak topic stands out. */
  function meter(value) {
    var m = el("meter");
    m.min = 0; m.max = 1; m.low = 0.6; m.high = 0.8; m.optimum = 1;
    m.value = value || 0;
    m.title = rate(value);
    return m;
  }

  function table(head, rows) {
    var t = el("table");
    var tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", h)); });
    t.appendChild(tr);
    rows.forEach(function (cells) {
      var row = el("tr");
      cells.forEach(function (c) {
        var td = el("td");
        if (c instanceof Node) td.appendChild(c); else td.textContent = String(c);
        row.appendChild(td);
      });
      t.appendChild(row);
    });
    return t;
  }

  function render(data) {
    var L = data.labels || {};
    var names = RATINGS.map(function (r) { return (L.ratings || {})[r] || r; });
    document.getElementById("care-title").textContent = L.section || L.title || "";
    if (L.refresh) refresh.textContent = L.refresh;
    body.textContent = "";
    var total = el("p", (L.total || "{count}").replace("{count}", data.total));
    total.id = "care-total";
    body.appendChild(total);
    if (data.unavailable && data.unavailable.length) {
      var warn = el("p", L.unavailable);
      warn.className = "status error";
      warn.id = "care-unavailable";
      body.appendChild(warn);
    }
    body.appendChild(el("h3", L.by_topic));
    if (!data.by_topic.length) body.appendChild(el("p", L.none));
    else body.appendChild(table([""].concat(names, [L.rate, ""]), data.by_topic.map(function (t) {
      return [t.label].concat(RATINGS.map(function (r) { return t[r]; }), [rate(t.rate), meter(t.rate)]);
    })));
    body.appendChild(el("h3", L.by_week));
    if (!data.by_week.length) body.appendChild(el("p", L.none));
    else body.appendChild(table([L.week, L.count, L.rate, ""], data.by_week.map(function (w) {
      return [w.week, w.total, rate(w.rate), meter(w.rate)];
    })));
    body.appendChild(el("h3", L.fallbacks));
    if (!data.fallbacks_by_week.length) body.appendChild(el("p", L.none));
    data.fallbacks_by_week.slice(-4).forEach(function (w) {
      body.appendChild(table([w.week + " (" + w.total + ")", L.count], w.top.map(function (q) {
        return [q.text, q.count];
      })));
    });
    section.hidden = false;
  }

  function load() {
    fetch("api/care", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (data) { if (data && data.labels) render(data); })
      .catch(function () { /* the rest of the console works without the figures */ });
  }

  refresh.textContent = "↻";
  refresh.addEventListener("click", load);
  load();
})();
