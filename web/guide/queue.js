/* The handoff queue page. Everything shown comes from /guide/api/queue (masked on the
 * server); this file only lays it out and sends staff actions. No libraries. */
(function () {
  "use strict";

  var API = "api/queue";
  var REFRESH_MS = 5000;
  var list = document.getElementById("cases");
  var pane = document.getElementById("case");
  var statusLine = document.getElementById("queue-status");
  var chosen = null;
  var chosenStatus = null;
  var messageList = null;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function setStatus(text, isError) {
    statusLine.textContent = text || "";
    statusLine.className = "status" + (isError ? " error" : "");
  }

  function getJson(url) {
    return fetch(url, { cache: "no-store", credentials: "same-origin" }).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) throw new Error(data.message || data.error || ("HTTP " + resp.status));
        return data;
      });
    });
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) throw new Error(data.message || data.error || ("HTTP " + resp.status));
        return data;
      });
    });
  }

  function renderList(cases) {
    list.textContent = "";
    cases.forEach(function (c) {
      var li = el("li", [c.priority ? "emergency" : "", c.status, chosen === c.id ? "chosen" : ""].join(" "));
      li.setAttribute("data-case", String(c.id));
      li.appendChild(el("span", "badge", c.priority ? "紧急" : c.status_label));
      li.appendChild(el("strong", null, "#" + c.id + " " + (c.topic || c.reason_label)));
      var detail = c.channel_label + " · " + c.reason_label + " · " + c.status_label;
      if (c.status === "waiting") detail += " · 第 " + c.position + " 位 · 已等 " + c.waited_minutes + " 分钟";
      if (c.emergency_name) detail += " · " + c.emergency_name;
      li.appendChild(el("small", null, detail));
      li.addEventListener("click", function () { open(c.id); });
      list.appendChild(li);
    });
    if (!cases.length) list.appendChild(el("li", "empty", "队列为空"));
  }

  function refresh() {
    return getJson(API).then(function (data) {
      renderList(data.cases || []);
      setStatus("共 " + (data.cases || []).filter(function (c) { return c.status === "waiting"; }).length + " 位等待");
    }).catch(function (e) { setStatus(e.message, true); });
  }

  function section(title) {
    var c = el("section", "card");
    c.appendChild(el("h2", null, title));
    pane.appendChild(c);
    return c;
  }

  function fillMessages(ml, messages) {
    ml.textContent = "";
    messages.forEach(function (m) {
      var li = el("li");
      // who of the staff took, answered or closed: the account's display name (audit trail)
      li.appendChild(el("span", "who", m.staff_name ? m.from_label + " · " + m.staff_name : m.from_label));
      li.appendChild(document.createTextNode(m.text));
      ml.appendChild(li);
    });
  }

  // New citizen messages appear without re-opening the case; the reply box is left alone.
  function refreshChosen() {
    if (chosen === null || !messageList) return;
    var id = chosen;
    getJson(API + "/" + id).then(function (c) {
      if (id !== chosen) return;
      if (c.status !== chosenStatus) { renderCase(c); return; }
      fillMessages(messageList, c.messages);
    }).catch(function () { /* shown by the list refresh */ });
  }

  function renderCase(c) {
    pane.textContent = "";
    var head = section("#" + c.id + " " + (c.topic || "") + "（" + c.status_label + "）");
    head.appendChild(el("p", null, c.channel_label + " · " + c.reason_label + (c.emergency_name ? " · 紧急：" + c.emergency_name : "")));
    var actions = el("div", "case-actions");
    if (c.status === "waiting") {
      var take = el("button", "primary", "接入");
      take.id = "take";
      take.addEventListener("click", function () { change(c.id, "take"); });
      actions.appendChild(take);
    }
    if (c.status === "taken" && c.taken_by_me) {
      var close = el("button", null, "结束人工服务");
      close.id = "close";
      close.addEventListener("click", function () { change(c.id, "close"); });
      actions.appendChild(close);
    }
    head.appendChild(actions);

    var slots = section("已填信息（已脱敏）");
    if (c.slots.length) {
      var ul = el("ul");
      c.slots.forEach(function (s) { ul.appendChild(el("li", null, s.label + "：" + s.value)); });
      slots.appendChild(ul);
    } else {
      slots.appendChild(el("p", "muted", "无"));
    }

    var turns = section("最近对话（已脱敏）");
    var tl = el("ul", "turns");
    c.turns.forEach(function (t) {
      var li = el("li");
      li.appendChild(el("span", "who", t.from_label));
      li.appendChild(document.createTextNode(t.text));
      tl.appendChild(li);
    });
    turns.appendChild(tl);

    var talk = section("人工对话");
    var ml = el("ul", "turns messages");
    fillMessages(ml, c.messages);
    messageList = ml;
    chosenStatus = c.status;
    talk.appendChild(ml);
    if (c.status === "taken" && c.taken_by_me) {
      var form = el("form", "reply");
      var box = el("textarea");
      box.id = "reply-text";
      box.rows = 3;
      box.maxLength = 600;
      box.setAttribute("aria-label", "回复群众");
      var row = el("div", "actions");
      var send = el("button", "primary", "发送回复");
      send.type = "submit";
      send.id = "send-reply";
      row.appendChild(send);
      form.appendChild(box);
      form.appendChild(row);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var text = box.value.trim();
        if (!text) return;
        postJson(API + "/" + c.id + "/reply", { text: text }).then(function (r) {
          setStatus(r.delivery_label || "");
          return open(c.id);
        }).catch(function (e) { setStatus(e.message, true); });
      });
      talk.appendChild(form);
    }
  }

  function open(id) {
    chosen = id;
    return getJson(API + "/" + id).then(function (c) {
      renderCase(c);
      return refresh();
    }).catch(function (e) { setStatus(e.message, true); });
  }

  function change(id, what) {
    return postJson(API + "/" + id + "/" + what, {}).then(function () {
      return open(id);
    }).catch(function (e) { setStatus(e.message, true); });
  }

  refresh();
  setInterval(function () {
    refresh();
    refreshChosen();
  }, REFRESH_MS);
})();
