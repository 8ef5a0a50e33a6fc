// The inbox bell: the signed-in person's held, in-flight and delivered notifications, live over SSE.
"use strict";

(() => {
  const { t, el, replace, dateTime } = Vigie;

  function showCounts(unread, held) {
    const count = document.getElementById("inbox-count");
    count.textContent = unread ? String(unread) : "";
    count.hidden = !unread;
    const bell = document.getElementById("inbox-bell");
    bell.setAttribute("aria-label", `${t("js.inbox.open")}: ${t("js.inbox.unread", { count: unread })}, ${t("js.inbox.held_count", { count: held })}`);
  }

  // Held until when, being delivered right now, or delivered when.
  function stateText(n) {
    if (n.state === "held") return t("js.inbox.held", { time: dateTime(n.hold_until) });
    if (n.state === "sending") return t("js.inbox.sending");
    return t("js.inbox.delivered", { time: dateTime(n.delivered_at) });
  }

  async function load() {
    const panel = document.getElementById("inbox-list");
    await Vigie.section(panel, async () => {
      const data = await Vigie.get("inbox");
      if (data === null) return null;
      showCounts(data.unread, data.held);
      if (data.person === null) return replace(panel, Vigie.notice("js.inbox.nobody", null, "li"));
      if (!data.items.length) return replace(panel, Vigie.notice("js.inbox.empty", null, "li"));
      replace(panel, data.items.map((n) => el("li", { "data-notification": n.id, "data-state": n.state, class: n.read ? "read" : "" },
        Vigie.badge(n.state === "delivered" ? "succeeded" : n.state, Vigie.statusText(n.state)),
        n.urgent ? [" ", Vigie.badge("warning", t("js.inbox.urgent"))] : null,
        " ", el("strong", {}, n.subject),
        el("div", { class: "muted" }, stateText(n)))));
      return true;
    });
  }

  async function markRead() {
    const ids = [...document.querySelectorAll("#inbox-list li[data-state=delivered]:not(.read)")].map((li) => Number(li.dataset.notification));
    if (ids.length) await Vigie.send("POST", "inbox_read", null, { ids });
    await load();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const bell = document.getElementById("inbox-bell");
    if (!bell || !Vigie.has("inbox")) return;
    const panel = document.getElementById("inbox-panel");
    bell.addEventListener("click", () => {
      const open = panel.hidden;
      panel.hidden = !open;
      bell.setAttribute("aria-expanded", String(open));
      if (open) load();
    });
    document.getElementById("inbox-mark-read").addEventListener("click", markRead);
    load();
    if (Vigie.has("inbox_stream")) {
      const source = new EventSource(Vigie.url("inbox_stream"));
      source.addEventListener("inbox", (m) => {
        const data = JSON.parse(m.data);
        showCounts(data.unread, data.held);
        if (!panel.hidden) load();
      });
      window.addEventListener("pagehide", () => source.close());
    }
  });
})();
