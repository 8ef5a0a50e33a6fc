// Alerts: the live feed (firing and resolved), each alert's evidence, the playbook runs it
// caused and their notifications; notifications held for someone off duty.
"use strict";

(() => {
  const { t, el, replace, time, dateTime } = Vigie;
  const state = { filter: "", alerts: [], runs: [], notifications: [] };
  const open = new Set();

  function evidence(alert) {
    const values = alert.values || {};
    const rows = [];
    if (values.value != null) rows.push([t("js.alerts.value"), Vigie.decimal(values.value)]);
    if (values.threshold != null) rows.push([t("js.alerts.threshold"), `${values.op || ""} ${Vigie.decimal(values.threshold)}`]);
    if (values.window) rows.push([t("js.alerts.window"), `${time(values.window.start)} – ${time(values.window.end)}`]);
    for (const [key, value] of Object.entries(alert.labels || {})) rows.push([key, value]);
    const visitors = values.visitors || [];
    const events = values.events || [];
    return el(
      "div",
      { class: "evidence" },
      el("h4", {}, t("js.alerts.evidence")),
      rows.length ? el("dl", { class: "facts" }, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))])) : null,
      events.length ? el("p", {}, t("js.alerts.events", { count: events.length })) : null,
      visitors.length
        ? el("p", {}, t("js.alerts.visitors"), " ",
          visitors.slice(0, 20).map((v, i) => [i ? ", " : "", el("a", { href: `/web?visitor=${encodeURIComponent(v)}` }, v)]))
        : null,
    );
  }

  function notificationItem(n) {
    const when = n.status === "held" && n.hold_until
      ? t("js.alerts.held_until", { time: dateTime(n.hold_until) })
      : n.delivered_at ? t("js.alerts.delivered_at", { time: dateTime(n.delivered_at) }) : "";
    const rerouted = n.recipient && n.recipient !== n.intended_for
      ? t("js.alerts.rerouted", { from: n.intended_for, to: n.recipient }) : n.recipient || n.intended_for;
    return el("li", { "data-notification": n.id }, Vigie.badge(n.status, Vigie.statusText(n.status)), `${rerouted} · ${n.subject} `,
      el("span", { class: "muted" }, when), n.reason ? el("div", { class: "muted" }, n.reason) : null);
  }

  function runItem(run) {
    const notes = state.notifications.filter((n) => n.run_id === run.id);
    return el(
      "li",
      { "data-run": run.id },
      Vigie.badge(run.status, Vigie.statusText(run.status)),
      el("strong", {}, run.playbook), " ",
      el("time", { datetime: run.started_at }, time(run.started_at)),
      el("ol", { class: "steps" }, (run.steps || []).map((step) =>
        el("li", {}, Vigie.badge(step.status, Vigie.statusText(step.status)), `${step.name} (${step.action})`,
          step.attempts > 1 ? el("span", { class: "muted" }, ` · ${t("js.alerts.attempts", { count: step.attempts })}`) : null,
          step.error ? el("div", { class: "error" }, step.error) : null))),
      notes.length ? [el("h5", {}, t("js.alerts.notifications")), el("ul", { class: "plain" }, notes.map(notificationItem))] : null,
    );
  }

  function alertItem(alert) {
    const key = alert.id || alert.fingerprint;
    // A run belongs to this firing of the alert: same fingerprint, started by its firing or
    // by its resolution.
    const moments = [alert.fired_at, alert.ends_at].filter(Boolean).map((at) => Date.parse(at));
    const runs = state.runs.filter((r) => r.trigger && r.trigger.fingerprint === alert.fingerprint
      && moments.includes(Date.parse(r.trigger.at)));
    const details = el(
      "details",
      { open: open.has(key), ontoggle: (e) => (e.target.open ? open.add(key) : open.delete(key)) },
      el("summary", {}, t("js.alerts.details", { runs: runs.length })),
      evidence(alert),
      el("h4", {}, t("js.alerts.runs")),
      runs.length ? el("ul", { class: "plain" }, runs.map(runItem)) : el("p", { class: "muted" }, t("js.alerts.no_runs")),
    );
    return el(
      "li",
      { class: `alert ${alert.status}`, "data-alert": key },
      Vigie.badge(alert.status, Vigie.statusText(alert.status)),
      Vigie.badge(alert.severity, Vigie.severityText(alert.severity)),
      el("strong", {}, alert.rule), " ",
      el("span", {}, Vigie.alertSummary(alert)),
      el("div", { class: "muted" },
        t("js.alerts.started", { time: dateTime(alert.fired_at || alert.starts_at) }),
        alert.ends_at ? ` · ${t("js.alerts.ended", { time: dateTime(alert.ends_at) })}` : ""),
      details,
    );
  }

  function renderFeed() {
    const list = document.getElementById("alert-feed");
    if (!state.alerts.length) return replace(list, el("li", { class: "muted" }, t("js.no_alerts_yet")));
    replace(list, state.alerts.map(alertItem));
  }

  function renderHeld() {
    const container = document.getElementById("held");
    const held = state.notifications.filter((n) => n.status === "held");
    if (!held.length) return replace(container, Vigie.notice("js.alerts.none_held"));
    replace(container, el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, [t("js.alerts.for"), t("js.alerts.subject"), t("js.alerts.delivery"), t("js.alerts.reason")].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, held.map((n) => el("tr", { "data-notification": n.id },
        el("td", {}, n.intended_for), el("td", {}, n.subject), el("td", {}, dateTime(n.hold_until)), el("td", {}, n.reason)))))));
  }

  async function load() {
    const feed = document.getElementById("alert-feed");
    await Vigie.section(feed, async () => {
      const [alerts, runs, notes] = await Promise.all([
        Vigie.get("alerts", null, { status: state.filter, limit: 200 }),
        Vigie.get("playbook_runs", null, { limit: 200 }),
        Vigie.get("notifications", null, { limit: 300 }),
      ]);
      if (alerts === null) return null;
      state.alerts = alerts.alerts;
      state.runs = runs ? runs.runs : [];
      state.notifications = notes ? notes.notifications : [];
      renderFeed();
    });
    if (Vigie.has("notifications")) renderHeld();
    else replace(document.getElementById("held"), Vigie.notice("js.not_configured"));
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("[data-filter]")) {
      button.addEventListener("click", () => {
        state.filter = button.dataset.filter;
        for (const other of document.querySelectorAll("[data-filter]")) other.setAttribute("aria-pressed", String(other === button));
        load();
      });
    }
    load();
    const refresh = Vigie.throttle(load, 500);
    Vigie.follow("alerts_stream", refresh);
    Vigie.onLive("events", refresh);
    setInterval(load, 15000);
  });
})();
