/* Vigie browser tracker. One tag installs it:
 *   <script src="https://vigie.example/t.js" data-write-key="KEY" async></script>
 * Options (attributes of the tag): data-consent="required" (nothing is stored or sent
 * until vigie.consent({analytics: true})), data-auto-page="false" (no automatic page view).
 * API: vigie.page(), vigie.track(name, props), vigie.identify(userId, traits),
 * vigie.consent({analytics: true|false}), vigie.reset(), vigie.flush().
 * Events go in batches to the Segment-compatible /v1/batch of the server that served
 * this file, with sendBeacon when the page goes away and fetch(keepalive) otherwise.
 */
(function (window, document) {
  "use strict";
  if (window.vigie && window.vigie.__vigie) return;
  var VERSION = "0.1.0";
  var AID = "vigie_aid", UID = "vigie_uid", CONSENT = "vigie_consent";
  var UTM = { utm_source: "source", utm_medium: "medium", utm_campaign: "name",
              utm_term: "term", utm_content: "content", utm_id: "id" };
  var MAX_BATCH = 20, FLUSH_MS = 1000, MAX_BODY = 60000;

  var script = document.currentScript ||
    document.querySelector('script[data-write-key][src*="t.js"]');
  if (!script) return;
  var base = new URL(script.src, window.location.href).origin;
  var writeKey = script.getAttribute("data-write-key") || "";
  var autoPage = script.getAttribute("data-auto-page") !== "false";
  var settings = { consentRequired: script.getAttribute("data-consent") === "required",
                   formFields: [] };

  var ready = false;          // server settings known
  var granted = null;         // null: not asked, true/false: the visitor's answer
  var waiting = [];           // calls made before the settings arrived
  var held = [];              // messages built before consent
  var queue = [];             // messages ready to send
  var timer = null;
  var anonymousId = null, userId = null;
  var pageDepths = {};
  var previous = window.vigie;

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return null;
  }
  function writeCookie(name, value, seconds) {
    var secure = window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie = name + "=" + encodeURIComponent(value) + "; path=/; max-age=" + seconds +
      "; SameSite=Lax" + secure;
  }
  function load(name) {
    try { return window.localStorage.getItem(name); } catch (e) { return null; }
  }
  function save(name, value) {
    try {
      if (value === null) window.localStorage.removeItem(name);
      else window.localStorage.setItem(name, value);
    } catch (e) { /* storage disabled: the cookie still holds the id */ }
  }

  function mayStore() { return !settings.consentRequired || granted === true; }

  function ensureIds() {
    if (!mayStore()) return;
    anonymousId = anonymousId || readCookie(AID) || load(AID) || uuid();
    writeCookie(AID, anonymousId, 2 * 365 * 24 * 3600);
    save(AID, anonymousId);
    userId = userId || load(UID);
  }

  function campaign() {
    var params = new URLSearchParams(window.location.search), out = {}, any = false;
    for (var key in UTM) {
      var value = params.get(key);
      if (value) { out[UTM[key]] = value; any = true; }
    }
    return any ? out : null;
  }

  function pageInfo() {
    var loc = window.location;
    return { path: loc.pathname, url: loc.href, search: loc.search, title: document.title,
             referrer: document.referrer };
  }

  function message(type, fields) {
    var context = {
      library: { name: "vigie.js", version: VERSION },
      page: pageInfo(),
      userAgent: navigator.userAgent,
      locale: navigator.language,
      screen: { width: window.screen.width, height: window.screen.height }
    };
    var utm = campaign();
    if (utm) context.campaign = utm;
    var msg = { type: type, messageId: uuid(), timestamp: new Date().toISOString(), context: context };
    for (var key in fields) if (fields[key] !== undefined) msg[key] = fields[key];
    return msg;
  }

  function enqueue(msg) {
    if (granted === false) return;
    if (!mayStore()) { held.push(msg); return; }
    ensureIds();
    msg.anonymousId = anonymousId;
    if (userId && !msg.userId) msg.userId = userId;
    queue.push(msg);
    if (queue.length >= MAX_BATCH) flush(false);
    else if (!timer) timer = window.setTimeout(function () { flush(false); }, FLUSH_MS);
  }

  function post(batch, leaving) {
    var body = JSON.stringify({ batch: batch, sentAt: new Date().toISOString(), writeKey: writeKey });
    var url = base + "/v1/batch";
    if (leaving && navigator.sendBeacon &&
        navigator.sendBeacon(url, new Blob([body], { type: "text/plain" }))) return;
    try {
      window.fetch(url, { method: "POST", body: body, keepalive: true, mode: "cors",
                          credentials: "omit", headers: { "Content-Type": "text/plain" } })
        .catch(function () { /* offline: the batch is lost, as a beacon would be */ });
    } catch (e) { /* very old browser */ }
  }

  function flush(leaving) {
    if (timer) { window.clearTimeout(timer); timer = null; }
    while (queue.length) {
      var batch = [], size = 0;
      while (queue.length && batch.length < MAX_BATCH) {
        var n = JSON.stringify(queue[0]).length;
        if (batch.length && size + n > MAX_BODY) break;
        batch.push(queue.shift()); size += n;
      }
      post(batch, leaving);
    }
  }

  var api = {
    __vigie: true,
    page: function (name, properties) {
      call(function () {
        var info = pageInfo(), props = properties || {};
        for (var key in info) if (props[key] === undefined) props[key] = info[key];
        pageDepths = {};
        enqueue(message("page", { name: name || document.title, properties: props }));
      });
    },
    track: function (event, properties) {
      call(function () { enqueue(message("track", { event: event, properties: properties || {} })); });
    },
    identify: function (id, traits) {
      call(function () {
        if (id) {
          userId = String(id);
          if (mayStore()) save(UID, userId);
        }
        enqueue(message("identify", { userId: userId || undefined, traits: traits || {} }));
        flush(false);
      });
    },
    consent: function (choice) {
      var yes = choice === true || !!(choice && choice.analytics);
      granted = yes;
      if (yes) {
        save(CONSENT, "granted");
        var pending = held; held = [];
        for (var i = 0; i < pending.length; i++) enqueue(pending[i]);
        flush(false);
      } else {
        held = []; queue = [];
        save(CONSENT, null); save(AID, null); save(UID, null);
        writeCookie(AID, "", 0);
        anonymousId = null; userId = null;
      }
    },
    reset: function () {
      userId = null; anonymousId = null;
      save(UID, null); save(AID, null); writeCookie(AID, "", 0);
    },
    flush: function () { flush(false); },
    __campaign: function () { return campaign() || {}; },
    anonymousId: function () { return anonymousId; }
  };

  // The website chat's widget, for sources that opt in (`tracker.chat` in vigie.yaml).
  function loadChat() {
    var tag = document.createElement("script");
    tag.src = base + "/chat/widget.js?v=" + VERSION;
    tag.async = true;
    tag.setAttribute("data-base", base);
    tag.setAttribute("data-write-key", writeKey);
    tag.setAttribute("data-transport", script.getAttribute("data-chat-transport") || "auto");
    document.head.appendChild(tag);
  }

  function call(fn) { if (ready) fn(); else waiting.push(fn); }

  function start(server) {
    if (server) {
      settings.consentRequired = settings.consentRequired || !!server.consentRequired;
      settings.formFields = server.formFields || [];
    }
    if (settings.consentRequired && granted === null && load(CONSENT) === "granted") granted = true;
    ready = true;
    var calls = waiting; waiting = [];
    for (var i = 0; i < calls.length; i++) calls[i]();
    // After the queued calls, so that the visitor's anonymous id exists when the chat starts.
    if (server && server.chat) loadChat();
  }

  document.addEventListener("click", function (e) {
    var el = e.target && e.target.closest ? e.target.closest("[data-vigie-event]") : null;
    if (!el || el.tagName === "FORM") return;
    var props = { text: (el.textContent || "").trim().slice(0, 100) };
    if (el.id) props.element_id = el.id;
    if (el.getAttribute("href")) props.href = el.getAttribute("href");
    for (var i = 0; i < el.attributes.length; i++) {
      var attr = el.attributes[i];
      if (attr.name.indexOf("data-vigie-prop-") === 0) props[attr.name.slice(16).replace(/-/g, "_")] = attr.value;
    }
    api.track(el.getAttribute("data-vigie-event"), props);
    if (el.tagName === "A") flush(true);
  }, true);

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form || form.tagName !== "FORM") return;
    var fields = [], values = {}, seen = {};
    for (var i = 0; i < form.elements.length; i++) {
      var input = form.elements[i];
      if (!input.name || seen[input.name] || input.type === "submit" || input.type === "button") continue;
      seen[input.name] = true;
      fields.push(input.name);
      // Values only for the fields the source allows, and never a password.
      if (settings.formFields.indexOf(input.name) >= 0 && input.type !== "password") values[input.name] = input.value;
    }
    var props = { form_id: form.id || null, form_name: form.getAttribute("name"),
                  action: form.getAttribute("action"), fields: fields };
    if (Object.keys(values).length) props.values = values;
    api.track(form.getAttribute("data-vigie-event") || "Form Submitted", props);
    flush(true);
  }, true);

  window.addEventListener("scroll", function () {
    var doc = document.documentElement;
    var height = Math.max(doc.scrollHeight, document.body ? document.body.scrollHeight : 0);
    if (!height) return;
    var depth = Math.min(100, Math.round((window.scrollY + window.innerHeight) / height * 100));
    var marks = [25, 50, 75, 100];
    for (var i = 0; i < marks.length; i++) {
      if (depth >= marks[i] && !pageDepths[marks[i]]) {
        pageDepths[marks[i]] = true;
        api.track("Scroll Depth", { depth: marks[i], path: window.location.pathname });
      }
    }
  }, { passive: true });

  window.addEventListener("pagehide", function () { flush(true); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush(true);
  });

  window.vigie = api;
  if (autoPage) api.page();
  if (Array.isArray(previous)) {
    for (var p = 0; p < previous.length; p++) {
      var entry = previous[p];
      if (entry && api[entry[0]]) api[entry[0]].apply(api, entry.slice(1));
    }
  }
  window.fetch(base + "/t/config?writeKey=" + encodeURIComponent(writeKey), { credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(start, function () { start(null); });
})(window, document);
