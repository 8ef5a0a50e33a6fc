// Schedules: who is working, on call or off duty now, and what waits for whom.
"use strict";

(() => {
  const { t, el, replace, number, dateTime } = Vigie;
  const stateText = (s) => ({ working: t("js.schedules.working"), on_call: t("js.schedules.on_call"), off: t("js.schedules.off") })[s] || s;
  const stateBadge = (s) => ({ working: "succeeded", on_call: "warning", off: "" })[s] || "";

  async function load() {
    const people = document.getElementById("people");
    const waiting = document.getElementById("waiting");
    await Vigie.section(people, async () => {
      const data = await Vigie.get("on_duty");
      if (data === null) {
        replace(waiting, Vigie.notice("js.not_configured"));
        return null;
      }
      document.getElementById("schedule-now").textContent = t("js.schedules.now", { time: dateTime(data.now) });
      if (!data.people.length) replace(people, Vigie.notice("js.schedules.no_people"));
      else replace(people, el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, [t("js.schedules.person"), t("js.schedules.teams"), t("js.schedules.state"), t("js.schedules.next"), t("js.schedules.held")].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, data.people.map((p) => el("tr", { "data-person": p.name, "data-state": p.state },
          el("th", { scope: "row" }, p.display_name), el("td", {}, p.teams.join(", ")),
          el("td", {}, Vigie.badge(stateBadge(p.state), stateText(p.state))),
          el("td", {}, p.state === "working" ? "–" : dateTime(p.next_working)),
          el("td", {}, number(p.held))))))));
      if (!data.held.length) return replace(waiting, Vigie.notice("js.alerts.none_held"));
      replace(waiting, el("ul", { class: "feed" }, data.held.map((n) => el("li", { "data-notification": n.id },
        Vigie.badge("held", Vigie.statusText("held")), el("strong", {}, n.intended_for), ` · ${n.subject} · `,
        el("span", {}, t("js.alerts.held_until", { time: dateTime(n.hold_until) })),
        n.reason ? el("div", { class: "muted" }, n.reason) : null))));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    load();
    setInterval(load, 30000);
    Vigie.onLive("events", Vigie.throttle(load, 3000));
  });
})();
