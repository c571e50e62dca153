/* Web chat for the Rasa REST channel. No libraries, no external requests.
 * The sender id and the visible transcript live in localStorage, so a reload keeps the
 * conversation (the server keeps its state under the same sender id). */
(function () {
  "use strict";

  var ENDPOINT = "/webhooks/rest/webhook";
  var SENDER_KEY = "crj.webchat.sender";
  var LOG_KEY = "crj.webchat.transcript";
  var MAX_LOG = 200;
  var TIMEOUT_MS = 30000;
  // Human handoff: the case token the bot gave, and how often staff replies are fetched.
  var HANDOFF_KEY = "crj.webchat.handoff";
  var HANDOFF_ENDPOINT = "/webchat/handoff";
  var HANDOFF_POLL_MS = 4000;
  var handoffTimer = null;

  var list = document.getElementById("messages");
  var form = document.getElementById("composer");
  var input = document.getElementById("input");
  var sendButton = document.getElementById("send");
  var busy = false;

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  function newSenderId() {
    if (window.crypto && window.crypto.randomUUID) return "web-" + window.crypto.randomUUID();
    return "web-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  function senderId() {
    var s = storage();
    var id = s && s.getItem(SENDER_KEY);
    if (!id) {
      id = newSenderId();
      if (s) s.setItem(SENDER_KEY, id);
    }
    return id;
  }

  function loadLog() {
    var s = storage();
    try { return JSON.parse((s && s.getItem(LOG_KEY)) || "[]") || []; } catch (e) { return []; }
  }

  function saveLog(log) {
    var s = storage();
    if (!s) return;
    try { s.setItem(LOG_KEY, JSON.stringify(log.slice(-MAX_LOG))); } catch (e) { /* quota: keep going */ }
  }

  function record(entry) {
    var log = loadLog();
    log.push(entry);
    saveLog(log);
  }

  function scrollDown() {
    list.scrollTop = list.scrollHeight;
  }

  function disableOldButtons() {
    var old = list.querySelectorAll(".msg:not(.intro) .buttons button");
    for (var i = 0; i < old.length; i++) old[i].disabled = true;
  }

  function addMessage(entry, live) {
    var wrap = document.createElement("div");
    wrap.className = "msg " + entry.from + (entry.error ? " error" : "");
    if (entry.text) {
      var bubble = document.createElement("div");
      bubble.className = "bubble";
      bubble.textContent = entry.text;
      wrap.appendChild(bubble);
    }
    if (entry.image) {
      var img = document.createElement("img");
      img.src = entry.image;
      img.alt = "图片";
      wrap.appendChild(img);
    }
    if (entry.buttons && entry.buttons.length) {
      var row = document.createElement("div");
      row.className = "buttons";
      entry.buttons.forEach(function (b) {
        var btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.title;
        btn.disabled = !live;
        btn.addEventListener("click", function () {
          send(b.payload || b.title, b.title);
        });
        row.appendChild(btn);
      });
      wrap.appendChild(row);
    }
    list.appendChild(wrap);
    scrollDown();
    return wrap;
  }

  function showTyping() {
    var wrap = document.createElement("div");
    wrap.className = "msg bot typing";
    wrap.setAttribute("aria-label", "助手正在输入");
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    for (var i = 0; i < 3; i++) {
      var dot = document.createElement("span");
      dot.className = "dot";
      bubble.appendChild(dot);
    }
    wrap.appendChild(bubble);
    list.appendChild(wrap);
    scrollDown();
    return wrap;
  }

  function handoffToken() {
    var s = storage();
    return (s && s.getItem(HANDOFF_KEY)) || "";
  }

  function stopHandoff() {
    var s = storage();
    if (s) s.removeItem(HANDOFF_KEY);
    if (handoffTimer) { clearTimeout(handoffTimer); handoffTimer = null; }
  }

  // Staff replies arrive with the citizen's next message, or here, by polling with the case
  // token (never by sender id): the server answers 404 to any other token.
  function pollHandoff() {
    handoffTimer = null;
    var token = handoffToken();
    if (!token) return;
    fetch(HANDOFF_ENDPOINT, { headers: { "X-Handoff-Token": token }, cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 404) { stopHandoff(); return null; }
        return resp.ok ? resp.json() : null;
      }).then(function (data) {
        if (!data) return;
        (data.messages || []).forEach(function (m) {
          var entry = { from: "bot", text: String(m.text || ""), buttons: [] };
          if (entry.text) { addMessage(entry, false); record(entry); }
        });
        if (data.open === false) stopHandoff();
      }).catch(function () { /* offline: try again later */ })
      .then(function () {
        if (handoffToken() && !handoffTimer) handoffTimer = setTimeout(pollHandoff, HANDOFF_POLL_MS);
      });
  }

  function startHandoff(token) {
    var s = storage();
    if (s && token) s.setItem(HANDOFF_KEY, token);
    if (!handoffTimer) handoffTimer = setTimeout(pollHandoff, HANDOFF_POLL_MS);
  }

  function toEntries(data) {
    var out = [];
    (Array.isArray(data) ? data : []).forEach(function (m) {
      if (m.custom && m.custom.handoff && typeof m.custom.handoff.token === "string") {
        startHandoff(m.custom.handoff.token);
      }
      var text = m.text || (m.custom && typeof m.custom.text === "string" ? m.custom.text : "");
      var buttons = (m.buttons || m.quick_replies || []).map(function (b) {
        return { title: String(b.title || b.payload || ""), payload: String(b.payload || b.title || "") };
      }).filter(function (b) { return b.title; });
      if (text || buttons.length || m.image) {
        out.push({ from: "bot", text: text, buttons: buttons, image: m.image || null });
      }
    });
    return out;
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
  }

  function send(message, shown) {
    message = (message || "").trim();
    if (!message || busy) return;
    disableOldButtons();
    var userEntry = { from: "user", text: shown || message };
    addMessage(userEntry, false);
    record(userEntry);
    setBusy(true);
    var typing = showTyping();

    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    fetch(ENDPOINT, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: senderId(), message: message }),
      signal: controller ? controller.signal : undefined
    }).then(function (resp) {
      if (!resp.ok) {
        var failure = new Error("HTTP " + resp.status);
        failure.status = resp.status;
        throw failure;
      }
      return resp.json();
    }).then(function (data) {
      var entries = toEntries(data);
      if (!entries.length) {
        entries = [{ from: "bot", text: "（助手没有回复，请换个说法再试一次。）", buttons: [] }];
      }
      entries.forEach(function (e, i) {
        addMessage(e, i === entries.length - 1);
        record(e);
      });
    }).catch(function (failure) {
      // 413: the server refused a message over its size limit; anything else (400, 5xx,
      // timeout, no network) is shown as "not delivered, try again" rather than nothing.
      var text = failure && failure.status === 413
        ? "这条消息太长了，请精简后再发送。"
        : "网络好像不太顺畅，消息没有送达。请稍后再试。";
      addMessage({ from: "bot", error: true, text: text }, false);
    }).then(function () {
      if (timer) clearTimeout(timer);
      typing.remove();
      setBusy(false);
      input.focus();
    });
  }

  function restore() {
    var log = loadLog();
    log.forEach(function (e, i) {
      var isLast = i === log.length - 1;
      addMessage(e, isLast && e.from === "bot");
    });
  }

  function autoGrow() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    if (!text.trim() || busy) return;
    input.value = "";
    autoGrow();
    send(text);
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit"));
    }
  });
  input.addEventListener("input", autoGrow);

  var suggestions = document.querySelectorAll(".suggestions button");
  for (var i = 0; i < suggestions.length; i++) {
    suggestions[i].addEventListener("click", function (ev) {
      send(ev.currentTarget.getAttribute("data-text"));
    });
  }

  document.getElementById("reset").addEventListener("click", function () {
    var s = storage();
    if (s) { s.removeItem(LOG_KEY); s.setItem(SENDER_KEY, newSenderId()); }
    stopHandoff();
    var nodes = list.querySelectorAll(".msg:not(.intro)");
    for (var j = 0; j < nodes.length; j++) nodes[j].remove();
    input.focus();
  });

  // Messages kept for this sender (an appointment reminder): on each visit and every few
  // minutes while the page is open. Only this sender id receives them, once each.
  var INBOX = "/webhooks/inbox/poll";
  var INBOX_EVERY_MS = 5 * 60 * 1000;
  function pollInbox() {
    if (busy) return;
    fetch(INBOX, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: senderId() })
    }).then(function (resp) {
      return resp.ok ? resp.json() : [];
    }).then(function (data) {
      toEntries(data).forEach(function (e) {
        addMessage(e, false);
        record(e);
      });
    }).catch(function () { /* no network: the next poll tries again */ });
  }

  senderId();
  restore();
  pollInbox();
  setInterval(pollInbox, INBOX_EVERY_MS);
  if (handoffToken()) startHandoff();
})();
