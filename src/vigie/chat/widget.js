/* Vigie website chat widget, loaded by the tracker (/t.js) for sources with chat: true.
 * Opens on the visitor's click or on a proactive invitation; messages both ways over a
 * WebSocket, or an event stream + POST where WebSockets are blocked; the conversation
 * survives navigation (its id in sessionStorage, the browser's token in localStorage).
 * Everything a visitor or an agent wrote is shown as text, never as HTML.
 */
(function (window, document) {
  "use strict";
  if (window.__vigieChat) return;
  window.__vigieChat = true;
  var me = document.currentScript;
  var base = me.getAttribute("data-base");
  var writeKey = me.getAttribute("data-write-key") || "";
  var transport = me.getAttribute("data-transport") || "auto";
  var TOKEN = "vigie_chat_token", CONV = "vigie_chat_conversation", OPEN = "vigie_chat_open",
      AID = "vigie_chat_aid";
  var lang = (document.documentElement.lang || navigator.language || "en").slice(0, 2) === "fr" ? "fr" : "en";
  var T = {
    en: { open: "Chat with us", title: "Chat", close: "Close the chat", send: "Send",
          label: "Your message", you: "You", agent: "Adviser", typing: "The adviser is typing…",
          read: "Read", accept: "Reply", dismiss: "No thanks", closed: "The conversation is closed. Thank you!",
          offline: "Nobody is available right now. Leave us a message and we will answer during our opening hours.",
          name: "Name", email: "Email", leave: "Send the message", thanks: "Thank you! We will answer by email.",
          error: "Not sent: ", log: "Conversation" },
    fr: { open: "Discuter avec nous", title: "Discussion", close: "Fermer la discussion", send: "Envoyer",
          label: "Votre message", you: "Vous", agent: "Conseiller", typing: "Le conseiller écrit…",
          read: "Lu", accept: "Répondre", dismiss: "Non merci", closed: "La conversation est terminée. Merci !",
          offline: "Personne n'est disponible pour l'instant. Laissez-nous un message, nous répondrons pendant nos heures d'ouverture.",
          name: "Nom", email: "E-mail", leave: "Envoyer le message", thanks: "Merci ! Nous répondrons par e-mail.",
          error: "Non envoyé : ", log: "Conversation" }
  }[lang];

  var state = { token: null, online: false, conversation: null, invitation: null, socket: null,
                stream: null, ref: 0, pending: {}, seen: {}, lastVisitorMessage: null };

  function store(kind) { try { return window[kind]; } catch (e) { return null; } }
  function get(kind, key) { var s = store(kind); return s ? s.getItem(key) : null; }
  function set(kind, key, value) {
    var s = store(kind); if (!s) return;
    if (value === null) s.removeItem(key); else s.setItem(key, value);
  }
  function anonymousId() {
    if (state.aid) return state.aid;
    state.aid = visitorId();
    return state.aid;
  }
  function visitorId() {
    var id = window.vigie && window.vigie.anonymousId && window.vigie.anonymousId();
    if (id) return id;
    id = get("sessionStorage", AID);
    if (!id) { id = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Math.random()).slice(2); set("sessionStorage", AID, id); }
    return id;
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k) && attrs[k] != null) node.setAttribute(k, attrs[k]);
    if (text != null) node.textContent = text;
    return node;
  }

  // The interface.
  var css = ".vigie-chat{position:fixed;right:16px;bottom:16px;z-index:2147483000;font:14px/1.4 system-ui,sans-serif;color:#1b1b1b}" +
    ".vigie-chat button{font:inherit;cursor:pointer;border-radius:6px;border:1px solid #1f4e79;background:#1f4e79;color:#fff;padding:6px 12px}" +
    ".vigie-chat button.secondary{background:#fff;color:#1f4e79}" +
    ".vigie-chat-panel{width:320px;max-width:calc(100vw - 32px);max-height:calc(100vh - 32px);overflow-y:auto;display:flex;flex-direction:column;background:#fff;border:1px solid #888;border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.2)}" +
    ".vigie-chat-panel header{display:flex;justify-content:space-between;align-items:center;padding:8px;background:#1f4e79;color:#fff;border-radius:8px 8px 0 0}" +
    ".vigie-chat-log{flex:1 1 auto;overflow-y:auto;padding:8px;min-height:80px;max-height:300px}" +
    ".vigie-chat-msg{margin:4px 0;padding:6px 8px;border-radius:6px;background:#eef2f7;white-space:pre-wrap;word-wrap:break-word}" +
    ".vigie-chat-msg.visitor{background:#dfe9f5;margin-left:24px}.vigie-chat-meta{font-size:12px;color:#555}" +
    ".vigie-chat form{display:flex;flex-direction:column;gap:4px;padding:8px}.vigie-chat textarea,.vigie-chat input{font:inherit;padding:4px}" +
    ".vigie-chat-invite{max-width:300px;background:#fff;border:1px solid #888;border-radius:8px;padding:10px;margin-bottom:8px;box-shadow:0 4px 16px rgba(0,0,0,.2)}" +
    ".vigie-chat-sr{position:absolute;left:-9999px}.vigie-chat [hidden]{display:none!important}";
  document.head.appendChild(el("style", {}, css));
  var root = el("div", { "class": "vigie-chat", id: "vigie-chat" });
  var invite = el("div", { "class": "vigie-chat-invite", role: "alertdialog", "aria-live": "assertive", hidden: "" });
  var inviteText = el("p", { id: "vigie-chat-invite-text" });
  var acceptButton = el("button", { type: "button", id: "vigie-chat-accept" }, T.accept);
  var dismissButton = el("button", { type: "button", "class": "secondary", id: "vigie-chat-dismiss" }, T.dismiss);
  invite.setAttribute("aria-labelledby", "vigie-chat-invite-text");
  invite.appendChild(inviteText); invite.appendChild(acceptButton); invite.appendChild(document.createTextNode(" ")); invite.appendChild(dismissButton);
  var launcher = el("button", { type: "button", id: "vigie-chat-launcher", "aria-expanded": "false", "aria-controls": "vigie-chat-panel" }, T.open);
  var panel = el("section", { "class": "vigie-chat-panel", id: "vigie-chat-panel", role: "dialog", "aria-label": T.title, hidden: "" });
  var header = el("header");
  header.appendChild(el("strong", {}, T.title));
  var closeButton = el("button", { type: "button", id: "vigie-chat-close", "aria-label": T.close }, "×");
  header.appendChild(closeButton);
  var log = el("div", { "class": "vigie-chat-log", id: "vigie-chat-log", role: "log", "aria-live": "polite", "aria-label": T.log, tabindex: "0" });
  var status = el("p", { "class": "vigie-chat-meta", id: "vigie-chat-status", role: "status", "aria-live": "polite" });
  var form = el("form", { id: "vigie-chat-form" });
  var input = el("textarea", { id: "vigie-chat-input", rows: "2", maxlength: "2000", "aria-label": T.label });
  form.appendChild(input); form.appendChild(el("button", { type: "submit" }, T.send));
  var offline = el("form", { id: "vigie-chat-offline", hidden: "" });
  offline.appendChild(el("p", {}, T.offline));
  [["name", T.name, "text"], ["email", T.email, "email"]].forEach(function (f) {
    var id = "vigie-chat-offline-" + f[0];
    offline.appendChild(el("label", { "for": id }, f[1]));
    offline.appendChild(el("input", { id: id, name: f[0], type: f[2], required: f[0] === "email" ? "" : null }));
  });
  offline.appendChild(el("label", { "for": "vigie-chat-offline-text" }, T.label));
  offline.appendChild(el("textarea", { id: "vigie-chat-offline-text", name: "text", rows: "3", required: "" }));
  offline.appendChild(el("button", { type: "submit" }, T.leave));
  panel.appendChild(header); panel.appendChild(log); panel.appendChild(status); panel.appendChild(form); panel.appendChild(offline);
  root.appendChild(invite); root.appendChild(panel); root.appendChild(launcher);

  function showPanel(open) {
    panel.hidden = !open; launcher.hidden = open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    set("sessionStorage", OPEN, open ? "1" : null);
    if (open) {
      invite.hidden = true;
      var useOffline = !state.online && !state.conversation;
      offline.hidden = !useOffline; form.hidden = useOffline; log.hidden = useOffline;
      (useOffline ? offline.querySelector("input") : input).focus();
      markRead();
    } else launcher.focus();
  }
  function addMessage(m) {
    if (state.seen[m.id]) return;
    state.seen[m.id] = true;
    var row = el("div", { "class": "vigie-chat-msg " + m.sender, "data-id": m.id });
    row.appendChild(el("span", { "class": "vigie-chat-sr" }, (m.sender === "visitor" ? T.you : T.agent) + ": "));
    row.appendChild(document.createTextNode(m.text));
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
    if (m.sender === "visitor") state.lastVisitorMessage = m.id;
    else { status.textContent = ""; markRead(); }
  }
  function markRead() {
    if (panel.hidden || !state.conversation) return;
    var rows = log.querySelectorAll(".vigie-chat-msg.agent");
    if (rows.length) send("read", { conversationId: state.conversation, messageId: rows[rows.length - 1].getAttribute("data-id") });
  }

  // Talking to the server.
  function credentials(extra) {
    var body = { writeKey: writeKey, anonymousId: anonymousId(), token: state.token };
    for (var k in extra) if (Object.prototype.hasOwnProperty.call(extra, k)) body[k] = extra[k];
    return body;
  }
  function post(path, body) {
    return window.fetch(base + "/chat/v1/" + path, { method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "text/plain" }, credentials: "omit" })
      .then(function (r) { return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.detail || r.status); return data; }); });
  }
  function send(type, fields) {
    var body = credentials(fields);
    if (state.socket && state.socket.readyState === 1) {
      return new Promise(function (resolve, reject) {
        var ref = ++state.ref;
        state.pending[ref] = { resolve: resolve, reject: reject };
        body.type = type; body.ref = ref;
        state.socket.send(JSON.stringify(body));
      });
    }
    return post(type, body);
  }
  function receive(m) {
    if (m.type === "reply") {
      var p = state.pending[m.ref]; delete state.pending[m.ref];
      if (p) { if (m.ok) p.resolve(m.result); else p.reject(new Error(m.error.detail)); }
    } else if (m.type === "message" && m.conversation_id === state.conversation) addMessage(m.message);
    else if (m.type === "typing" && m.conversation_id === state.conversation) {
      status.textContent = T.typing;
      window.clearTimeout(state.typingTimer);
      state.typingTimer = window.setTimeout(function () { status.textContent = ""; }, 4000);
    } else if (m.type === "read" && m.conversation_id === state.conversation) {
      var old = log.querySelector(".vigie-chat-read"); if (old) old.remove();
      var last = state.lastVisitorMessage ? log.querySelector('[data-id="' + state.lastVisitorMessage + '"]') : null;
      if (last) last.appendChild(el("span", { "class": "vigie-chat-meta vigie-chat-read" }, " · " + T.read));
    } else if (m.type === "invitation") {
      if (state.conversation) return;
      state.invitation = m;
      inviteText.textContent = m.message;
      invite.hidden = false;
      acceptButton.focus();
    } else if (m.type === "closed" && m.conversation_id === state.conversation) {
      status.textContent = T.closed;
      state.conversation = null; set("sessionStorage", CONV, null);
    }
  }
  function query() {
    return "?writeKey=" + encodeURIComponent(writeKey) + "&anonymousId=" + encodeURIComponent(anonymousId()) +
      "&token=" + encodeURIComponent(state.token) + "&page=" + encodeURIComponent(location.pathname) + "&lang=" + lang;
  }
  function useStream() {
    if (state.stream || !window.EventSource) return;
    state.stream = new EventSource(base + "/chat/v1/stream" + query());
    state.stream.onmessage = function (e) { receive(JSON.parse(e.data)); };
    root.setAttribute("data-transport", "sse");
  }
  function connect() {
    if (transport === "sse" || !window.WebSocket) { useStream(); return; }
    var opened = false;
    var socket = new WebSocket(base.replace(/^http/, "ws") + "/chat/v1/ws" + query());
    socket.onopen = function () { opened = true; state.socket = socket; root.setAttribute("data-transport", "websocket"); };
    socket.onmessage = function (e) { receive(JSON.parse(e.data)); };
    socket.onclose = function () {
      state.socket = null;
      for (var r in state.pending) state.pending[r].reject(new Error("disconnected"));
      state.pending = {};
      if (!opened) useStream(); else window.setTimeout(connect, 2000);
    };
  }

  // What the visitor does.
  launcher.addEventListener("click", function () { showPanel(true); });
  closeButton.addEventListener("click", function () { showPanel(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") showPanel(false); });
  acceptButton.addEventListener("click", function () { showPanel(true); });
  dismissButton.addEventListener("click", function () {
    invite.hidden = true; state.invitation = null; send("dismiss", {}).catch(function () {});
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit")); }
  });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (state.conversation && (!state.typedAt || now - state.typedAt > 2000)) {
      state.typedAt = now; send("typing", { conversationId: state.conversation }).catch(function () {});
    }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    var done;
    if (state.conversation) done = send("say", { conversationId: state.conversation, text: text });
    else {
      var inv = state.invitation || {};
      var utm = window.vigie && window.vigie.__campaign ? window.vigie.__campaign() : {};
      done = send("start", { text: text, page: location.pathname, language: lang, campaign: utm,
                             invitationId: inv.id || null, runId: inv.run_id || null })
        .then(function (c) {
          state.conversation = c.id; set("sessionStorage", CONV, c.id); state.invitation = null;
          return c.messages[c.messages.length - 1];
        });
    }
    done.then(addMessage, function (err) { status.textContent = T.error + err.message; input.value = text; });
  });
  offline.addEventListener("submit", function (e) {
    e.preventDefault();
    var f = offline.elements;
    post("offline", credentials({ name: f.name.value, email: f.email.value, text: f.text.value }))
      .then(function () { offline.hidden = true; status.textContent = T.thanks; },
            function (err) { status.textContent = T.error + err.message; });
  });

  function begin() {
    document.body.appendChild(root);
    state.token = get("localStorage", TOKEN);
    post("session", { writeKey: writeKey, anonymousId: anonymousId(), token: state.token }).then(function (s) {
      state.token = s.token; state.online = s.online;
      set("localStorage", TOKEN, s.token);
      var wanted = get("sessionStorage", CONV);
      var open = s.conversations.filter(function (c) { return c.id === wanted; })[0] || null;
      if (open) {
        state.conversation = open.id;
        open.messages.forEach(addMessage);
      } else set("sessionStorage", CONV, null);
      root.setAttribute("data-ready", "true");
      root.setAttribute("data-online", s.online ? "true" : "false");
      connect();
      if (get("sessionStorage", OPEN)) showPanel(true);
    }, function () { root.setAttribute("data-ready", "error"); });
  }
  if (document.body) begin(); else document.addEventListener("DOMContentLoaded", begin);
})(window, document);
