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

  async function loadRecord() {
    const box = document.getElementById("record");
    const month = document.getElementById("record-month").value;
    const verdict = document.getElementById("record-verdict");
    if (!Vigie.has("disconnect_record") || !month) return;
    document.getElementById("record-csv").href = Vigie.url("disconnect_record", null, { month, format: "csv" });
    await Vigie.section(box, async () => {
      const data = await Vigie.get("disconnect_record", null, { month });
      const broken = data.people.filter((p) => p.delivered_outside_working_time > 0).map((p) => p.name);
      verdict.textContent = broken.length ? t("js.record.broken", { names: broken.join(", ") }) : t("js.record.holds");
      verdict.className = broken.length ? "error" : "muted";
      const heads = ["js.record.kind", "js.record.held", "js.record.rerouted_away", "js.record.covered", "js.record.in_hours", "js.record.on_call", "js.record.outside"];
      replace(box, el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, t(h))))),
        el("tbody", {}, [...data.people, ...data.teams].map((r) => el("tr", { "data-record": r.name, "data-kind": r.kind },
          el("th", { scope: "row" }, r.kind === "team" ? `${r.name} (${t("js.record.team")})` : r.name),
          [r.held, r.rerouted_away, r.covered_for_others, r.delivered_in_working_time, r.delivered_on_call_urgent, r.delivered_outside_working_time].map((v) => el("td", {}, number(v)))))))));
      return true;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const monthInput = document.getElementById("record-month");
    const today = new Date().toLocaleDateString("en-CA", { timeZone: Vigie.timeZone });
    monthInput.value = today.slice(0, 7);
    document.getElementById("record-form").addEventListener("submit", (e) => {
      e.preventDefault();
      loadRecord();
    });
    loadRecord();
    load();
    setInterval(load, 30000);
    Vigie.onLive("events", Vigie.throttle(load, 3000));
  });
})();
