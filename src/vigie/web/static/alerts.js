// Alerts: the live feed (firing and resolved), each alert's evidence, the playbook runs it
// caused, their notifications, the actions they left and each one's measured effect; acknowledging, assigning, annotating, judging and
// silencing an alert; the silences; notifications held for someone off duty.
"use strict";

(() => {
  const { t, el, replace, time, dateTime } = Vigie;
  const state = { filter: "", alerts: [], runs: [], notifications: [], silences: [], outcomes: new Map() };
  const open = new Set();
  const canAct = Boolean(Vigie.page.can_act);
  const SILENCE_HOURS = [1, 4, 24, 168];

  // Run an action, then reload; a refusal is shown next to the form that caused it.
  async function act(where, action) {
    const message = where.querySelector(".action-error");
    try {
      await action();
      if (message) message.textContent = "";
      if (document.activeElement) document.activeElement.blur();
      await load();
    } catch (error) {
      if (message) message.textContent = t("js.alerts.action_failed", { error: error.message });
    }
  }

  function handlingFacts(alert) {
    const h = alert.handling || {};
    const facts = [];
    if ((alert.silenced_by || []).length) facts.push(Vigie.badge("silenced", t("js.alerts.silenced")));
    if (h.acknowledged_by) facts.push(el("span", { class: "fact", "data-fact": "ack" }, t("js.alerts.acknowledged_by", { who: h.acknowledged_by, time: dateTime(h.acknowledged_at) })));
    if (h.assignee) facts.push(el("span", { class: "fact", "data-fact": "assignee" }, t("js.alerts.assigned_to", { who: h.assignee, by: h.assigned_by })));
    if (h.feedback) facts.push(Vigie.badge(h.feedback === "useful" ? "succeeded" : "failed", t(h.feedback === "useful" ? "js.alerts.useful" : "js.alerts.false_alarm")));
    return facts.length ? el("div", { class: "handling" }, facts.map((f, i) => [i ? " · " : "", f])) : null;
  }

  function notesList(alert) {
    const notes = (alert.handling || {}).notes || [];
    if (!notes.length) return null;
    return el("ul", { class: "plain notes" }, notes.map((n) =>
      el("li", {}, el("strong", {}, n.by), " ", el("time", { datetime: n.at }, dateTime(n.at)), ": ", n.text)));
  }

  function alertActions(alert) {
    if (!canAct || !alert.id) return null;
    const h = alert.handling || {};
    const id = alert.id;
    const box = el("div", { class: "alert-actions", "data-actions": id });
    const button = (label, onclick, attrs) => el("button", { type: "button", onclick, ...(attrs || {}) }, label);
    const ack = h.acknowledged_by ? null : button(t("js.alerts.acknowledge"), () => act(box, () => Vigie.send("POST", "alert_ack", { alert_id: id })), { "data-action": "ack" });
    const verdict = (value, label) => button(label, () => act(box, () => Vigie.send("POST", "alert_feedback", { alert_id: id }, { verdict: value })), { "data-action": value, "aria-pressed": String(h.feedback === value) });
    const assignees = Vigie.page.assignees || [];
    const assignSelect = el("select", { name: "assignee", "aria-label": t("js.alerts.assignee") },
      assignees.map((a) => el("option", { value: a.name, selected: h.assignee === a.name }, a.label)));
    const assign = assignees.length
      ? el("form", { class: "inline", "data-form": "assign", onsubmit: (e) => { e.preventDefault(); act(box, () => Vigie.send("POST", "alert_assign", { alert_id: id }, { assignee: assignSelect.value })); } },
        assignSelect, el("button", { type: "submit" }, t("js.alerts.assign")))
      : null;
    const noteInput = el("input", { type: "text", name: "note", maxlength: "4000", required: true, "aria-label": t("js.alerts.note"), placeholder: t("js.alerts.note") });
    const note = el("form", { class: "inline", "data-form": "note", onsubmit: (e) => { e.preventDefault(); act(box, () => Vigie.send("POST", "alert_notes", { alert_id: id }, { text: noteInput.value })); } },
      noteInput, el("button", { type: "submit" }, t("js.alerts.add_note")));
    const hours = el("select", { name: "hours", "aria-label": t("js.alerts.silence_for") },
      SILENCE_HOURS.map((n) => el("option", { value: n }, t("js.alerts.hours", { count: n }))));
    const comment = el("input", { type: "text", name: "comment", maxlength: "2000", "aria-label": t("js.alerts.comment"), placeholder: t("js.alerts.comment") });
    const matchers = [{ name: "alertname", value: alert.rule, isRegex: false, isEqual: true },
      ...Object.entries(alert.labels || {}).map(([name, value]) => ({ name, value, isRegex: false, isEqual: true }))];
    const silence = Vigie.has("silences") && !(alert.silenced_by || []).length && alert.status !== "resolved"
      ? el("form", { class: "inline", "data-form": "silence", onsubmit: (e) => {
        e.preventDefault();
        const endsAt = new Date(Date.now() + Number(hours.value) * 3600 * 1000).toISOString();
        act(box, () => Vigie.send("POST", "silences", null, { matchers, endsAt, comment: comment.value }));
      } }, el("span", {}, t("js.alerts.silence_for")), " ", hours, comment, el("button", { type: "submit" }, t("js.alerts.silence")))
      : null;
    box.append(
      el("div", { class: "buttons" }, ack, verdict("useful", t("js.alerts.useful")), verdict("false_alarm", t("js.alerts.false_alarm"))),
      assign, note, silence, el("p", { class: "error action-error", role: "alert" }));
    return box;
  }

  function renderSilences() {
    const container = document.getElementById("silences");
    if (!Vigie.has("silences")) return replace(container, Vigie.notice("js.not_configured"));
    const shown = state.silences.filter((s) => s.status.state !== "expired");
    if (!shown.length) return replace(container, Vigie.notice("js.alerts.no_silences"));
    replace(container, el("ul", { class: "feed" }, shown.map((s) => {
      const item = el("li", { "data-silence": s.id },
        Vigie.badge(s.status.state === "active" ? "silenced" : "", Vigie.statusText(s.status.state)), " ",
        el("code", {}, s.matchers.map((m) => `${m.name}${m.isEqual ? "" : "!"}${m.isRegex ? "=~" : "="}"${m.value}"`).join(", ")), " ",
        el("span", { class: "muted" }, t("js.alerts.silence_until", { time: dateTime(s.endsAt), who: s.createdBy })),
        s.comment ? el("div", { class: "muted" }, s.comment) : null);
      if (canAct) {
        item.append(" ", el("button", { type: "button", "data-action": "expire", onclick: () => act(item, () => Vigie.send("DELETE", "silence", { silence_id: s.id })) }, t("js.alerts.expire")),
          el("p", { class: "error action-error", role: "alert" }));
      }
      return item;
    })));
  }

  // A sequential (or rate-aware absence) rule's evidence: which test, when the change
  // began, expected vs observed events, and how unlikely that was under normal traffic.
  function sequentialEvidence(values) {
    const rows = [[t("js.sequential.test"), t(`js.sequential.test_${values.test}`)]];
    if (values.since) rows.push([t("js.sequential.since"), dateTime(values.since)]);
    if (values.expected != null) {
      rows.push([t("js.sequential.counts"), `${Vigie.decimal(values.expected)} / ${values.observed}`]);
    }
    if (values.log10_p_value != null) {
      // Tiny probabilities underflow a float: shown as a power of ten.
      const p = values.log10_p_value > -4 ? Vigie.decimal(values.p_value) : `10^${Math.round(values.log10_p_value)}`;
      rows.push([t("js.sequential.p_value"), p]);
    }
    if (values.evidence != null) rows.push([t("js.sequential.evidence"), Vigie.decimal(values.evidence)]);
    if (values.silent_s) rows.push([t("js.sequential.silent"), t("js.sequential.seconds", { count: Vigie.decimal(values.silent_s) })]);
    return rows;
  }

  // An SVG element (the page's `el` makes HTML ones).
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }

  // The anomaly's recent windows and the current one: the normal band, the expected line,
  // the observed line and the current value, drawn inline (no chart library).
  function anomalyPlot(alert) {
    const v = alert.values || {};
    const band = v.band || [];
    const now = v.window && v.window.end;
    const points = (v.history || []).concat(now ? [{ at: now, observed: v.value, expected: v.expected, low: band[0], high: band[1] }] : [])
      .map((p) => ({ ...p, x: Date.parse(p.at) }))
      .filter((p) => Number.isFinite(p.x) && [p.observed, p.expected, p.low, p.high].every(Number.isFinite));
    if (points.length < 2) return null;
    const W = 320, H = 96, P = 4;
    const ys = points.flatMap((p) => [p.observed, p.low, p.high]);
    const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const [x0, x1] = [points[0].x, points[points.length - 1].x];
    const X = (x) => (P + (W - 2 * P) * (x - x0) / ((x1 - x0) || 1)).toFixed(1);
    const Y = (y) => (H - P - (H - 2 * P) * (y - y0) / ((y1 - y0) || 1)).toFixed(1);
    const line = (key) => points.map((p) => `${X(p.x)},${Y(p[key])}`).join(" ");
    const area = points.map((p) => `${X(p.x)},${Y(p.high)}`).concat(points.slice().reverse().map((p) => `${X(p.x)},${Y(p.low)}`)).join(" ");
    const last = points[points.length - 1];
    const label = t("js.anomaly.plot", { metric: v.metric || alert.rule, observed: Vigie.decimal(last.observed), expected: Vigie.decimal(last.expected), low: Vigie.decimal(last.low), high: Vigie.decimal(last.high) });
    return el("figure", { class: "anomaly-plot" },
      svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": label, "data-plot": "anomaly" },
        svg("title", {}, label),
        svg("polygon", { points: area, fill: "currentColor", "fill-opacity": "0.12", "data-series": "band" }),
        svg("polyline", { points: line("expected"), fill: "none", stroke: "currentColor", "stroke-dasharray": "4 3", "stroke-opacity": "0.6", "data-series": "expected" }),
        svg("polyline", { points: line("observed"), fill: "none", stroke: "currentColor", "stroke-width": "1.5", "data-series": "observed" }),
        svg("circle", { cx: X(last.x), cy: Y(last.observed), r: "3.5", "data-series": "now" })),
      el("figcaption", { class: "muted" }, t("js.anomaly.legend")));
  }

  function anomalyRows(values) {
    const rows = [];
    if (values.expected == null) return rows;
    const band = values.band || [];
    rows.push([t("js.anomaly.expected"), Vigie.decimal(values.expected)]);
    if (band.length === 2) rows.push([t("js.anomaly.band"), `${Vigie.decimal(band[0])} – ${Vigie.decimal(band[1])}`]);
    if (values.seasonality) {
      const used = t(`js.anomaly.seasonality_${values.seasonality}`);
      const local = values.timezone && values.seasonality !== "none";
      rows.push([t("js.anomaly.seasonality"), local ? t("js.anomaly.seasonality_in", { seasonality: used, zone: values.timezone }) : used]);
    }
    if (values.abnormal_since) rows.push([t("js.anomaly.abnormal_since"), dateTime(values.abnormal_since)]);
    if (values.unchanged) rows.push([t("js.anomaly.unchanged"), t("js.anomaly.unchanged_for", { count: values.unchanged.samples, time: dateTime(values.unchanged.since) })]);
    if (values.p_value != null) rows.push([t("js.anomaly.p_value"), Number(values.p_value).toExponential(1)]);
    return rows;
  }

  function evidence(alert) {
    const values = alert.values || {};
    const rows = [];
    if (values.value != null) rows.push([values.expected != null ? t("js.anomaly.observed") : t("js.alerts.value"), Vigie.decimal(values.value)]);
    rows.push(...anomalyRows(values));
    if (values.threshold != null) rows.push([t("js.alerts.threshold"), `${values.op || ""} ${Vigie.decimal(values.threshold)}`]);
    if (values.window) rows.push([t("js.alerts.window"), `${time(values.window.start)} – ${time(values.window.end)}`]);
    if (values.test) rows.push(...sequentialEvidence(values));
    for (const [key, value] of Object.entries(alert.labels || {})) rows.push([key, value]);
    const visitors = values.visitors || [];
    const events = values.events || [];
    return el(
      "div",
      { class: "evidence" },
      el("h4", {}, t("js.alerts.evidence")),
      rows.length ? el("dl", { class: "facts" }, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))])) : null,
      anomalyPlot(alert),
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
          step.status === "held" && step.result && step.result.held_until
            ? el("span", { class: "muted", "data-held-until": step.result.held_until }, ` · ${t("js.alerts.held_until", { time: dateTime(step.result.held_until) })}`) : null,
          step.result && step.result.dropped
            ? el("span", { class: "muted" }, ` · ${t("js.alerts.dropped", { reason: step.result.skipped })}`) : null,
          step.error ? el("div", { class: "error" }, step.error) : null))),
      notes.length ? [el("h5", {}, t("js.alerts.notifications")), el("ul", { class: "plain" }, notes.map(notificationItem))] : null,
    );
  }

  // What the alert caused: each run's steps, the actions they left (with their state) and
  // each step's effect measured against its control group, or why it is not measured.
  const say = (sentence) => (sentence ? sentence[Vigie.lang] || sentence.en : "");
  const actionBadge = (s) => ({ open: "warning", done: "succeeded" })[s] || "";

  function outcomeAction(a) {
    return el("li", { "data-outcome-action": `${a.kind}-${a.id}`, "data-state": a.state },
      Vigie.badge(actionBadge(a.state), t(`js.actions.state_${a.state}`)), " ",
      t(`js.actions.kind_${a.kind}`), ` · ${a.summary} · ${a.target}`,
      a.crm_task ? el("span", { class: "muted" }, ` · ${t("js.alerts.crm_task", { id: a.crm_task })}`) : null);
  }

  function outcomeView(outcome) {
    if (outcome.error) return el("p", { class: "error", role: "alert" }, t("js.load_failed", { error: outcome.error }));
    return [
      el("p", { class: "outcome-summary" }, say(outcome.sentence)),
      outcome.runs.map((run) => el("div", { "data-outcome-run": run.id },
        el("strong", {}, run.playbook), " ", Vigie.badge(run.status, Vigie.statusText(run.status)), " ",
        el("time", { datetime: run.started_at }, dateTime(run.started_at)),
        el("ol", { class: "steps" }, run.steps.map((step) => el("li", { "data-outcome-step": step.index },
          Vigie.badge(step.status, Vigie.statusText(step.status)), `${step.name} (${step.action})`,
          step.actions.length ? el("ul", { class: "plain" }, step.actions.map(outcomeAction)) : null,
          el("div", { class: step.effect ? "effect" : "effect muted", "data-effect": step.effect ? "measured" : "none" }, say(step.sentence))))))),
    ];
  }

  async function loadOutcomes(alert) {
    if (!alert.id || !Vigie.has("alert_outcomes")) return;
    try {
      state.outcomes.set(alert.id, await Vigie.get("alert_outcomes", { alert_id: alert.id }));
    } catch (error) {
      state.outcomes.set(alert.id, { error: error.message });
    }
    const box = document.querySelector(`[data-outcomes="${CSS.escape(alert.id)}"]`);
    if (box) replace(box, outcomeView(state.outcomes.get(alert.id)));
  }

  function outcomeBox(alert) {
    if (!alert.id || !Vigie.has("alert_outcomes")) return null;
    const known = state.outcomes.get(alert.id);
    return [el("h4", {}, t("js.alerts.outcomes")),
      el("div", { "data-outcomes": alert.id }, known ? outcomeView(known) : el("p", { class: "muted" }, t("js.alerts.outcomes_loading")))];
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
      {
        open: open.has(key),
        ontoggle: (e) => {
          if (!e.target.open) return open.delete(key);
          open.add(key);
          loadOutcomes(alert);
        },
      },
      el("summary", {}, t("js.alerts.details", { runs: runs.length })),
      evidence(alert),
      el("h4", {}, t("js.alerts.runs")),
      runs.length ? el("ul", { class: "plain" }, runs.map(runItem)) : el("p", { class: "muted" }, t("js.alerts.no_runs")),
      outcomeBox(alert),
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
        // One alert per incident: the re-fires it joined, and a firing one waiting out its
        // resolve time since its condition cleared.
        alert.values && alert.values.refires ? el("span", { "data-refires": alert.values.refires }, ` · ${t("js.alerts.refires", { count: alert.values.refires })}`) : "",
        alert.status === "firing" && alert.values && alert.values.clear_since
          ? el("span", { "data-clear-since": alert.values.clear_since }, ` · ${t("js.alerts.clear_since", { time: dateTime(alert.values.clear_since) })}`) : "",
        alert.ends_at ? ` · ${t("js.alerts.ended", { time: dateTime(alert.ends_at) })}` : ""),
      handlingFacts(alert),
      notesList(alert),
      alertActions(alert),
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
      const [alerts, runs, notes, silences] = await Promise.all([
        Vigie.get("alerts", null, { status: state.filter, limit: 200 }),
        Vigie.get("playbook_runs", null, { limit: 200 }),
        Vigie.get("notifications", null, { limit: 300 }),
        Vigie.get("silences", null, { limit: 200 }),
      ]);
      if (alerts === null) return null;
      state.alerts = alerts.alerts;
      state.runs = runs ? runs.runs : [];
      state.notifications = notes ? notes.notifications : [];
      state.silences = silences ? silences.silences : [];
      // A form being typed in is not redrawn under the person's fingers.
      if (!document.activeElement || !document.activeElement.closest("[data-actions]") || document.activeElement.tagName === "BUTTON") renderFeed();
      renderSilences();
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
