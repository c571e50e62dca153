/* Hall-guide console. All facts come from /guide/api/analyze (the bot's NLU + knowledge
 * base); this file only lays them out. No libraries, no external requests. */
(function () {
  "use strict";

  var form = document.getElementById("ask");
  var situation = document.getElementById("situation");
  var service = document.getElementById("service");
  var applicant = document.getElementById("applicant");
  var kind = document.getElementById("kind");
  var statusLine = document.getElementById("status");
  var result = document.getElementById("result");
  var copyButton = document.getElementById("copy");
  var printButton = document.getElementById("print");
  var analyzeButton = document.getElementById("analyze");
  var lastSummary = "";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function fillSelect(select, options) {
    (options || []).forEach(function (o) {
      var opt = el("option", null, o.name);
      opt.value = o.id;
      select.appendChild(opt);
    });
  }

  function setStatus(text, isError) {
    statusLine.textContent = text || "";
    statusLine.className = "status" + (isError ? " error" : "");
  }

  function meta(section) {
    var p = el("p", "meta");
    p.appendChild(document.createTextNode("适用范围：" + section.scope + " · 截至 " + section.as_of + " · 来源："));
    section.sources.forEach(function (src, i) {
      if (i) p.appendChild(document.createTextNode("；"));
      p.appendChild(el("span", "source", src === "article" ? "报道原文" : src));
    });
    return p;
  }

  function card(title, cls) {
    var c = el("section", "card " + (cls || ""));
    c.appendChild(el("h2", null, title));
    return c;
  }

  function renderSection(section) {
    var c = card(section.title, "section-" + section.id);
    if (section.topic) c.querySelector("h2").appendChild(el("small", null, section.topic));
    if (section.items && section.items.length) {
      var ul = el("ul", "checklist");
      section.items.forEach(function (item) {
        var li = el("li");
        var box = el("span", "box");
        box.setAttribute("aria-hidden", "true");
        li.appendChild(box);
        li.appendChild(el("span", null, item));
        ul.appendChild(li);
      });
      c.appendChild(ul);
      var notes = section.text.split("\n").filter(function (line) {
        return !/^\s*(\d+[.、．)]|[-•·])/.test(line);
      }).join("\n").trim();
      if (notes) c.appendChild(el("p", "text", notes));
    } else {
      c.appendChild(el("p", "text", section.text));
    }
    c.appendChild(meta(section));
    return c;
  }

  function renderGreen(g) {
    var c = card("绿色通道", g.eligible ? "green yes" : "green no");
    if (g.eligible) {
      c.appendChild(el("p", "verdict", "可申请绿色通道：" + g.name));
      if (g.who) c.appendChild(el("p", "text", g.who));
      if (g.cues && g.cues.length) {
        var cues = el("p", "cues");
        cues.appendChild(el("strong", null, "识别依据："));
        g.cues.forEach(function (cue) { cues.appendChild(el("span", "chip", cue)); });
        c.appendChild(cues);
      }
      if (g.proofs && g.proofs.length) {
        c.appendChild(el("h3", null, "需要的证明"));
        var ul = el("ul", "checklist");
        g.proofs.forEach(function (p) {
          var li = el("li");
          var box = el("span", "box");
          box.setAttribute("aria-hidden", "true");
          li.appendChild(box);
          li.appendChild(el("span", null, p));
          ul.appendChild(li);
        });
        c.appendChild(ul);
      }
      if (g.speed) c.appendChild(el("p", "text", g.speed));
      if (g.phone) c.appendChild(el("p", "text", "绿色通道电话：" + g.phone));
      if (g.sources && g.sources.length) {
        c.appendChild(meta({ scope: "全国", as_of: g.as_of || "", sources: g.sources }));
      }
      if (g.text) {
        var more = el("details", "more");
        more.appendChild(el("summary", null, "绿色通道说明（" + (g.text_scope || "全国") + "）"));
        more.appendChild(el("p", "text", g.text));
        c.appendChild(more);
      }
    } else {
      if (g.ask) {
        c.appendChild(el("p", "verdict", "可能有急事，请向办事人确认" + (g.ask.name ? "：" + g.ask.name : "")));
        var why = el("p", "cues");
        why.appendChild(el("strong", null, "识别依据："));
        (g.ask.cues || []).forEach(function (cue) { why.appendChild(el("span", "chip", cue)); });
        (g.ask.context || []).forEach(function (cue) { why.appendChild(el("span", "chip muted", "语境：" + cue)); });
        c.appendChild(why);
      } else {
        c.appendChild(el("p", "verdict", "未识别到紧急情况"));
      }
      if (g.categories && g.categories.length) {
        var kinds = el("p", "cues");
        kinds.appendChild(el("span", "label", "可走绿色通道的急事："));
        g.categories.forEach(function (k) { kinds.appendChild(el("span", "chip muted", k.name)); });
        c.appendChild(kinds);
      }
    }
    return c;
  }

  function renderHalls(halls) {
    var c = card("办理大厅", "halls");
    halls.forEach(function (h) {
      var box = el("div", "hall");
      box.appendChild(el("p", "hall-name", h.name));
      var dl = el("dl");
      [["地址", h.address], ["办公时间", h.hours], ["电话", h.phone],
        ["绿色通道", h.green_channel_phone]].forEach(function (pair) {
        dl.appendChild(el("dt", null, pair[0]));
        dl.appendChild(el("dd", null, pair[1]));
      });
      box.appendChild(dl);
      c.appendChild(box);
    });
    return c;
  }

  function renderSlots(today) {
    var c = card("今日可约时段（" + today.day + "）", "slots");
    today.halls.forEach(function (h) {
      c.appendChild(el("p", "hall-name", h.hall_name));
      if (!h.slots.length) {
        c.appendChild(el("p", "text", "今日没有可约时段"));
        return;
      }
      var ul = el("ul", "slot-list");
      h.slots.forEach(function (s) {
        ul.appendChild(el("li", null, s.start + "–" + s.end + "  余 " + s.free));
      });
      c.appendChild(ul);
    });
    return c;
  }

  function render(data) {
    result.textContent = "";
    var head = el("section", "card summary");
    head.appendChild(el("h2", null, data.service ? data.service.name : "识别结果"));
    if (data.text) head.appendChild(el("p", "quote", "“" + data.text + "”"));
    var chips = el("p", "chips");
    (data.slots || []).forEach(function (s) {
      chips.appendChild(el("span", "chip", s.label + "：" + s.display));
    });
    if (data.nlu && data.nlu.intent) {
      chips.appendChild(el("span", "chip muted", "意图：" + data.nlu.intent + " " + Math.round(data.nlu.confidence * 100) + "%"));
    }
    head.appendChild(chips);
    (data.warnings || []).forEach(function (w) { head.appendChild(el("p", "warning", w)); });
    result.appendChild(head);

    // Order: an emergency first; then what to bring, cost, time, where; the rest after.
    var green = data.green_channel;
    var sections = data.sections || [];
    var first = sections.filter(function (s) { return ["documents", "fee", "time"].indexOf(s.id) >= 0; });
    var rest = sections.filter(function (s) { return first.indexOf(s) < 0; });
    if (green && green.eligible) result.appendChild(renderGreen(green));
    first.forEach(function (s) { result.appendChild(renderSection(s)); });
    if (data.halls && data.halls.length) result.appendChild(renderHalls(data.halls));
    if (data.slots_today) result.appendChild(renderSlots(data.slots_today));
    rest.forEach(function (s) { result.appendChild(renderSection(s)); });
    if (green && !green.eligible) result.appendChild(renderGreen(green));
    lastSummary = data.summary || "";
    copyButton.disabled = !lastSummary;
    printButton.disabled = false;
  }

  function analyze() {
    var body = { text: situation.value.trim() };
    if (service.value) body.service = service.value;
    if (applicant.value) body.applicant_type = applicant.value;
    if (kind.value) body.apply_kind = kind.value;
    if (!body.text && !body.service) {
      setStatus("请输入群众的诉求，或选择要办的业务。", true);
      return;
    }
    analyzeButton.disabled = true;
    setStatus("正在分析……");
    fetch("api/analyze", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (resp) {
      if (resp.status === 401) {  // the staff session ended: log in again
        window.location.href = "login";
        throw new Error("登录已过期，请重新登录。");
      }
      return resp.json().then(function (data) {
        if (!resp.ok) throw new Error(data && data.error ? data.error : "HTTP " + resp.status);
        return data;
      });
    }).then(function (data) {
      render(data);
      setStatus("");
    }).catch(function (err) {
      setStatus(err && err.message ? err.message : "分析失败，请稍后再试。", true);
    }).then(function () {
      analyzeButton.disabled = false;
    });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {  // plain-http LAN address: old way
      var area = el("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      area.remove();
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    analyze();
  });
  situation.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      analyze();
    }
  });
  copyButton.addEventListener("click", function () {
    copyText(lastSummary).then(function () { setStatus("已复制到剪贴板。"); },
      function () { setStatus("复制失败，请手动选择文字复制。", true); });
  });
  printButton.addEventListener("click", function () { window.print(); });
  window.addEventListener("beforeprint", function () {  // closed <details> would not print
    var all = result.querySelectorAll("details");
    for (var i = 0; i < all.length; i++) all[i].open = true;
  });

  fetch("api/session").then(function (r) { return r.json(); }).then(function (session) {
    if (session && (session.mode === "password" || session.mode === "staff")) document.getElementById("logout").hidden = false;
  }).catch(function () { /* no logout button: nothing to log out of */ });

  fetch("api/options").then(function (r) { return r.json(); }).then(function (opts) {
    fillSelect(service, opts.services);
    fillSelect(applicant, opts.applicant_types);
    fillSelect(kind, opts.apply_kinds);
  }).catch(function () { setStatus("业务列表加载失败，仍可直接输入诉求。", true); });
})();
