/* Grid ticket page of the guide console. Every word comes from /guide/grid/api/tickets
 * (data/wording/grid.yml, data/kb/grid.yml); this file only lays it out. */
(function () {
  "use strict";
  var labels = {}, stages = [], names = { platforms: {}, categories: {} }, current = null;
  var $ = function (id) { return document.getElementById(id); };
  var COLUMNS = ["code", "category", "platform", "stage", "place", "created_at"];

  function el(tag, text) { var n = document.createElement(tag); if (text != null) n.textContent = text; return n; }
  function stageName(id) { for (var i = 0; i < stages.length; i++) if (stages[i].id === id) return stages[i].name; return id; }
  function nextStage(id) { for (var i = 0; i < stages.length - 1; i++) if (stages[i].id === id) return stages[i + 1]; return null; }
  function local(iso) { return iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : ""; }
  function status(id, text, error) { var p = $(id); p.textContent = text || ""; p.className = "status" + (error ? " error" : ""); }

  function api(path, options) {
    return fetch("/guide/grid/api/" + path, options).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error(body.error || r.status); return body; });
    });
  }

  function show(view) {
    var t = view.ticket, cols = labels.columns || {};
    current = t;
    $("detail").hidden = false;
    $("detail-code").textContent = t.code;
    var dl = $("detail-fields"); dl.textContent = "";
    [["category", names.categories[t.category]], ["platform", names.platforms[t.platform]],
     ["stage", stageName(t.stage)], ["place", t.place], ["description", t.description],
     ["occurred_at", local(t.occurred_at)], ["created_at", local(t.created_at)],
     ["contact", t.contact_masked || "—"]].forEach(function (row) {
      dl.appendChild(el("dt", cols[row[0]] || row[0])); dl.appendChild(el("dd", row[1]));
    });
    var next = nextStage(t.stage), button = $("advance-button");
    button.disabled = !next;
    button.textContent = (labels.advance || "") + (next ? "：" + next.name : "");
    var ol = $("trail"); ol.textContent = "";
    view.trail.forEach(function (e) {
      var what = (labels.actions || {})[e.action] || e.action;
      var move = e.to_stage ? " → " + stageName(e.to_stage) : "";
      ol.appendChild(el("li", local(e.at) + " " + what + move + " · " + e.actor + (e.note ? " · " + e.note : "")));
    });
  }

  function open(code) {
    api("tickets/" + encodeURIComponent(code)).then(show).catch(function (e) { status("advance-status", e.message, true); });
  }

  function load() {
    var stage = $("stage").value;
    api("tickets" + (stage ? "?stage=" + encodeURIComponent(stage) : "")).then(function (data) {
      var first = !stages.length;
      labels = data.labels; stages = data.stages; names.platforms = data.platforms; names.categories = data.categories;
      if (first) {
        document.title = labels.title; $("heading").textContent = labels.heading; $("back").textContent = labels.back;
        $("stage-label").textContent = labels.stage_filter; $("trail-heading").textContent = labels.trail;
        $("actor").placeholder = (labels.columns || {}).actor; $("note").placeholder = labels.note;
        if (data.staff) { $("actor").value = data.staff; $("actor").readOnly = true; $("actor").required = false; }
        var all = el("option", labels.all_stages); all.value = ""; $("stage").appendChild(all);
        stages.forEach(function (s) { var o = el("option", s.name); o.value = s.id; $("stage").appendChild(o); });
        var head = document.querySelector("#tickets thead tr");
        COLUMNS.forEach(function (c) { head.appendChild(el("th", labels.columns[c])); });
      }
      var body = document.querySelector("#tickets tbody"); body.textContent = "";
      data.tickets.forEach(function (t) {
        var tr = el("tr");
        [t.code, names.categories[t.category], names.platforms[t.platform], stageName(t.stage), t.place, local(t.created_at)]
          .forEach(function (v) { tr.appendChild(el("td", v)); });
        tr.addEventListener("click", function () { open(t.code); });
        body.appendChild(tr);
      });
      status("status", "");
    }).catch(function (e) { status("status", e.message, true); });
  }

  $("stage").addEventListener("change", load);
  $("advance").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!current) return;
    var next = nextStage(current.stage);
    if (!next) return;
    api("tickets/" + encodeURIComponent(current.code) + "/advance", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ actor: $("actor").value, to_stage: next.id, note: $("note").value })
    }).then(function (r) { status("advance-status", r.notice_text); $("note").value = ""; open(current.code); load(); })
      .catch(function (e) { status("advance-status", e.message, true); });
  });
  load();
})();
