// The chat console: visitors on the site now, open conversations, reply, tag, transfer,
// close with an outcome; new visitor messages show in the tab title until the tab is seen.
"use strict";

(() => {
  const { t, el, replace, time } = Vigie;
  const state = { me: null, ownOnly: false, conversations: new Map(), visitors: [], onDuty: [], canned: {}, current: null, unread: 0 };
  const baseTitle = document.title;

  function notify() {
    if (document.visibilityState === "visible" && document.hasFocus()) state.unread = 0;
    else state.unread += 1;
    document.title = state.unread ? `(${state.unread}) ${t("js.chat.new_message")} · ${baseTitle}` : baseTitle;
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") { state.unread = 0; document.title = baseTitle; }
  });

  function renderVisitors() {
    const box = document.getElementById("chat-visitors");
    if (!state.visitors.length) return replace(box, Vigie.notice("js.chat.no_visitors"));
    replace(box, el("ul", { class: "feed" }, state.visitors.map((v) => el("li", { "data-visitor": v.anonymous_id },
      el("strong", {}, v.page), ` · ${v.source}`, v.language ? ` · ${v.language}` : "",
      el("div", { class: "muted" }, t("js.chat.journey", { pages: v.journey.join(" → ") }))))));
  }

  function renderInbox() {
    const box = document.getElementById("chat-inbox");
    const open = [...state.conversations.values()].filter((c) => c.status === "open");
    if (!open.length) return replace(box, Vigie.notice("js.chat.no_conversations"));
    replace(box, el("ul", { class: "feed" }, open.map((c) => {
      const last = c.messages[c.messages.length - 1];
      const owner = c.owner ? t("js.chat.owned_by", { who: c.owner }) : t("js.chat.unowned");
      return el("li", { "data-conversation": c.id },
        el("button", { type: "button", class: "link", onclick: () => show(c.id) },
          `${c.page || c.source}${c.invitation_id ? " · " + t("js.chat.invited") : ""}`),
        el("div", { class: "muted" }, `${owner} · ${last ? last.text.slice(0, 80) : ""}`));
    })));
  }

  function renderThread() {
    const c = state.conversations.get(state.current);
    document.getElementById("chat-thread").hidden = !c;
    document.getElementById("chat-pick").hidden = Boolean(c);
    if (!c) return;
    const campaign = c.campaign && c.campaign.name ? ` · ${t("js.chat.campaign")}: ${c.campaign.name}` : "";
    document.getElementById("chat-meta").textContent =
      `${c.page || ""}${campaign} · ${c.owner ? t("js.chat.owned_by", { who: c.owner }) : t("js.chat.unowned")}` +
      (c.tags.length ? ` · ${t("js.chat.tags")}: ${c.tags.join(", ")}` : "") +
      (c.status === "closed" ? ` · ${t("js.chat.closed")}: ${c.outcome}` : "");
    replace(document.getElementById("chat-messages"), ...c.messages.map((m) =>
      el("div", { class: `chat-message ${m.sender}`, "data-id": m.id },
        el("span", { class: "muted" }, `${time(m.at)} ${m.sender === "agent" ? m.author || t("js.chat.agent") : t("js.chat.visitor")}: `),
        el("span", { class: "chat-text" }, m.text))));
    const transfer = document.getElementById("chat-transfer-to");
    replace(transfer, ...state.onDuty.filter((a) => a !== state.me).map((a) => el("option", { value: a }, a)));
    const visitorMessages = c.messages.filter((m) => m.sender === "visitor");
    if (visitorMessages.length && c.status === "open" && (!c.owner || c.owner === state.me)) {
      Vigie.send("POST", "chat_read", { conversation_id: c.id }, { message_id: visitorMessages[visitorMessages.length - 1].id }).catch(() => {});
    }
  }

  const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 1000) / 10} %`);
  const secs = (v) => (v === null || v === undefined ? "–" : t("js.chat.kpi_seconds", { n: Math.round(v) }));

  async function loadKpis() {
    const k = await Vigie.get("chat_kpis");
    if (k === null) return;
    const tile = (name, value, detail) => el("div", { class: "tile", "data-kpi": name },
      el("div", { class: "muted" }, t(`js.chat.kpi_${name}`)), el("strong", {}, value),
      detail ? el("div", { class: "muted" }, detail) : "");
    const objections = Object.entries(k.objections).map(([campaign, tags]) =>
      el("li", {}, `${campaign === "(none)" ? t("js.chat.kpi_no_campaign") : campaign}: ` +
        Object.entries(tags).map(([tag, n]) => `${tag} (${n})`).join(", ")));
    replace(document.getElementById("chat-kpis"),
      el("div", { class: "tiles" },
        tile("conversations", String(k.conversations), t("js.chat.kpi_proactive_n", { n: k.proactive })),
        tile("first_response", secs(k.first_response_s_p50), t("js.chat.kpi_unanswered_n", { n: k.unanswered })),
        tile("resolution", pct(k.resolution_rate), t("js.chat.kpi_closed_n", { n: k.closed })),
        tile("after_proactive", pct(k.conversion_after_proactive), t("js.chat.kpi_within", { hours: k.conversion_window_hours })),
        tile("after_visitor_chat", pct(k.conversion_after_visitor_chat), t("js.chat.kpi_within", { hours: k.conversion_window_hours })),
        tile("without_chat", pct(k.conversion_without_chat), t("js.chat.kpi_visitors_n", { n: k.visitors_without_chat }))),
      objections.length ? el("div", {}, el("h3", {}, t("js.chat.kpi_objections")), el("ul", { class: "feed" }, objections)) : "");
  }
  let kpiTimer = null;
  function refreshKpis() { clearTimeout(kpiTimer); kpiTimer = setTimeout(loadKpis, 1000); }

  function show(id) { state.current = id; renderThread(); document.getElementById("chat-text").focus(); }

  async function act(path, body) {
    const error = document.getElementById("chat-error");
    error.textContent = "";
    try {
      const result = await Vigie.send("POST", path, { conversation_id: state.current }, body);
      if (result && result.id && result.messages) {
        if (state.ownOnly && result.owner && result.owner !== state.me) withdraw(result.id);
        else state.conversations.set(result.id, result);
      }
      renderInbox(); renderThread();
      return result;
    } catch (e) {
      error.textContent = t("js.chat.failed", { error: e.message });
      return null;
    }
  }

  // A conversation a colleague took (or was handed) leaves a salesperson's console.
  function withdraw(id) {
    state.conversations.delete(id);
    if (state.current === id) state.current = null;
  }

  async function load() {
    const data = await Vigie.get("chat_inbox");
    if (data === null) return;
    state.me = data.me; state.ownOnly = data.own_only; state.visitors = data.visitors; state.onDuty = data.on_duty; state.canned = data.canned;
    state.conversations = new Map(data.conversations.map((c) => [c.id, c]));
    document.getElementById("chat-duty").textContent = data.on_duty.length
      ? t("js.chat.on_duty", { who: data.on_duty.join(", ") }) : t("js.chat.nobody_on_duty");
    const canned = document.getElementById("chat-canned");
    replace(canned, el("option", { value: "" }, t("js.chat.canned")), ...Object.entries(data.canned).map(([name, texts]) =>
      el("option", { value: texts[Vigie.lang] || Object.values(texts)[0] || "" }, name)));
    renderVisitors(); renderInbox(); renderThread();
    loadKpis();
  }

  function live(m) {
    if (m.type === "hello") { document.body.setAttribute("data-chat-live", "true"); return; }
    if (m.type === "presence") {
      state.visitors = state.visitors.filter((v) => v.anonymous_id !== m.visitor.anonymous_id);
      if (m.present) state.visitors.push(m.visitor);
      renderVisitors();
    } else if (m.type === "conversation") {
      refreshKpis();
      const known = state.conversations.has(m.conversation.id);
      state.conversations.set(m.conversation.id, m.conversation);
      if (!known) notify();
      renderInbox(); if (m.conversation.id === state.current) renderThread();
    } else if (m.type === "withdrawn") {
      withdraw(m.conversation_id);
      renderInbox(); renderThread();
    } else if (m.type === "message") {
      const c = state.conversations.get(m.conversation_id);
      if (!c) { load(); return; }
      if (!c.messages.some((x) => x.id === m.message.id)) c.messages.push(m.message);
      if (m.message.sender === "visitor") notify();
      refreshKpis();
      renderInbox(); if (c.id === state.current) renderThread();
    } else if (m.type === "typing" && m.conversation_id === state.current) {
      const box = document.getElementById("chat-typing");
      box.textContent = t("js.chat.typing");
      clearTimeout(state.typingTimer);
      state.typingTimer = setTimeout(() => { box.textContent = ""; }, 4000);
    } else if (m.type === "read" && m.conversation_id === state.current) {
      document.getElementById("chat-typing").textContent = t("js.chat.read");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    load().then(() => {
      const stream = new EventSource("/api/chat/stream");
      stream.onmessage = (e) => live(JSON.parse(e.data));
      window.addEventListener("pagehide", () => stream.close());
    });
    document.getElementById("chat-canned").addEventListener("change", (e) => {
      if (e.target.value) document.getElementById("chat-text").value = e.target.value;
    });
    let typedAt = 0;
    document.getElementById("chat-text").addEventListener("input", () => {
      if (Date.now() - typedAt < 2000 || !state.current) return;
      typedAt = Date.now();
      Vigie.send("POST", "chat_typing", { conversation_id: state.current }).catch(() => {});
    });
    document.getElementById("chat-reply").addEventListener("submit", async (e) => {
      e.preventDefault();
      const box = document.getElementById("chat-text");
      const text = box.value.trim();
      if (!text) return;
      const sent = await act("chat_reply", { text });
      if (sent) {
        box.value = "";
        const c = state.conversations.get(state.current);
        if (c && !c.messages.some((x) => x.id === sent.id)) { c.messages.push(sent); c.owner = c.owner || state.me; }
        renderInbox(); renderThread();
      }
    });
    document.getElementById("chat-tag").addEventListener("submit", async (e) => {
      e.preventDefault();
      const name = document.getElementById("chat-tag-name");
      if (name.value.trim() && await act("chat_tags", { tags: [name.value.trim()] })) name.value = "";
    });
    document.getElementById("chat-transfer").addEventListener("submit", (e) => {
      e.preventDefault();
      const to = document.getElementById("chat-transfer-to").value;
      if (to) act("chat_assign", { to });
    });
    document.getElementById("chat-close").addEventListener("submit", (e) => {
      e.preventDefault();
      act("chat_close", { outcome: document.getElementById("chat-outcome").value });
    });
  });
})();
