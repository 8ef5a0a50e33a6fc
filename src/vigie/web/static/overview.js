// Overview: the log's live counters and per-event sparklines, KPIs by department, alerts firing.
"use strict";

(() => {
  const { t, el, replace, number, time } = Vigie;
  const state = { total: 0, minute: 0, minutes: 30, series: {}, events: [] };
  const tiles = new Map();

  function tileFor(label) {
    let tile = tiles.get(label);
    if (!tile) {
      const count = el("span", { class: "big" });
      const chart = el("div", { class: "spark", role: "img", "aria-label": t("js.sparkline_label", { name: label }) });
      const node = el("article", { class: "tile", "data-label": label }, el("h3", { class: "tile-label" }, label), count, chart);
      tile = { node, count, chart };
      tiles.set(label, tile);
    }
    return tile;
  }

  function renderActivity() {
    const container = document.getElementById("activity");
    const labels = Object.keys(state.series).sort();
    if (!labels.length) {
      replace(container, Vigie.notice("js.no_activity"));
      tiles.clear();
      return;
    }
    replace(container, labels.map((label) => tileFor(label).node));
    for (const label of labels) drawTile(label);
  }

  function drawTile(label) {
    const tile = tileFor(label);
    const values = state.series[label];
    tile.count.textContent = number(values.reduce((a, b) => a + b, 0));
    Vigie.sparkline(tile.chart, values);
  }

  function renderCounters() {
    document.getElementById("live-total").textContent = number(state.total);
    let lastMinute = 0;
    for (const values of Object.values(state.series)) lastMinute += values[values.length - 1];
    document.getElementById("live-minute").textContent = number(lastMinute);
  }

  function feedItem(event) {
    const who = event.user_id || event.anonymous_id || "";
    return el(
      "li",
      { "data-offset": event.offset },
      el("time", { datetime: event.received_at }, time(event.received_at)),
      " ",
      el("strong", {}, event.label),
      who ? el("span", { class: "muted" }, ` · ${who}`) : null,
      el("span", { class: "muted" }, ` · ${event.source}`),
    );
  }

  function renderFeed() {
    const list = document.getElementById("event-feed");
    if (!state.events.length) return replace(list, el("li", { class: "muted" }, t("js.no_events")));
    replace(list, state.events.slice().reverse().map(feedItem));
  }

  // Move the window forward to `minute`, dropping the oldest buckets.
  function advance(minute) {
    const shift = Math.min(minute - state.minute, state.minutes);
    if (shift <= 0) return;
    for (const [label, values] of Object.entries(state.series)) {
      const moved = values.slice(shift).concat(new Array(shift).fill(0));
      if (moved.some((v) => v > 0)) state.series[label] = moved;
      else delete state.series[label];
    }
    state.minute = minute;
  }

  Vigie.onLive("snapshot", (snapshot) => {
    Object.assign(state, {
      total: snapshot.total, minute: snapshot.minute, minutes: snapshot.minutes,
      series: snapshot.series, events: snapshot.events,
    });
    renderCounters();
    renderActivity();
    renderFeed();
  });

  Vigie.onLive("events", (message) => {
    advance(message.minute);
    state.total = message.total;
    let added = false;
    for (const [label, count] of Object.entries(message.counts)) {
      if (!state.series[label]) {
        state.series[label] = new Array(state.minutes).fill(0);
        added = true;
      }
      const values = state.series[label];
      values[values.length - 1] += count;
    }
    state.events = state.events.concat(message.events).slice(-20);
    renderCounters();
    if (added) renderActivity();
    else for (const label of Object.keys(message.counts)) drawTile(label);
    renderFeed();
  });

  // KPIs by department, each with its sparkline and threshold.
  function kpiTile(kpi) {
    const title = Vigie.localized(kpi.title, kpi.metric);
    const group = Object.entries(kpi.labels || {}).map(([k, v]) => `${k}: ${v}`).join(", ");
    const chart = el("div", { class: "spark", role: "img", "aria-label": t("js.sparkline_label", { name: title }) });
    const firing = kpi.firing && kpi.firing.length > 0;
    const node = el(
      "article",
      { class: firing ? "tile breached" : "tile", "data-kpi": kpi.metric, "data-group": kpi.group },
      el("h4", { class: "tile-label" }, title, group ? el("span", { class: "muted" }, ` · ${group}`) : null),
      el("span", { class: "big" }, Vigie.decimal(kpi.value), kpi.unit ? el("small", {}, ` ${kpi.unit}`) : null),
      kpi.threshold != null
        ? el("span", { class: firing ? "error" : "muted" }, t("js.threshold", { value: `${kpi.op} ${Vigie.decimal(kpi.threshold)}` }))
        : el("span", { class: "muted" }, t("js.no_threshold")),
      kpi.late
        ? el("span", { class: "warning late", title: t("js.late_help") }, t("js.late_events", { count: Vigie.decimal(kpi.late) }))
        : null,
      chart,
    );
    const values = (kpi.series || []).map((v) => (v == null ? 0 : v));
    if (values.length) requestAnimationFrame(() => Vigie.sparkline(chart, values, { threshold: kpi.threshold }));
    return node;
  }

  // A department's name in the page's language; a key of one's own shows as written.
  function departmentName(key) {
    if (!key) return t("js.department_other");
    const message = ["js", "department", key].join("."); // js.department.<key>, if known
    const name = t(message);
    return name === message ? key : name;
  }

  async function loadKpis() {
    const container = document.getElementById("kpis");
    await Vigie.section(container, async () => {
      const data = await Vigie.get("kpis");
      if (data === null) return null;
      if (!data.kpis.length) return replace(container, Vigie.notice("js.no_kpis"));
      // One section per department, by name in the page's language; KPIs without one last.
      const byDepartment = new Map();
      for (const kpi of data.kpis) {
        const key = kpi.department || "";
        if (!byDepartment.has(key)) byDepartment.set(key, []);
        byDepartment.get(key).push(kpi);
      }
      const sections = [...byDepartment].map(([key, items]) => ({ key, name: departmentName(key), items }));
      sections.sort((a, b) => (a.key === "") - (b.key === "") || a.name.localeCompare(b.name, Vigie.lang));
      replace(container, sections.map(({ key, name, items }) =>
        el("section", { class: "department", "aria-label": name, "data-department": key || "other" },
          el("h3", {}, name), el("div", { class: "tiles" }, items.map(kpiTile)))));
    });
  }

  function alertItem(alert) {
    return el(
      "li",
      { class: `alert ${alert.status}`, "data-alert": alert.id || alert.fingerprint },
      Vigie.badge(alert.status, Vigie.statusText(alert.status)),
      el("strong", {}, alert.rule),
      " ",
      el("span", {}, Vigie.alertSummary(alert)),
      " ",
      el("time", { datetime: alert.fired_at || alert.starts_at }, time(alert.fired_at || alert.starts_at)),
    );
  }

  async function loadAlerts() {
    const list = document.getElementById("firing");
    await Vigie.section(list, async () => {
      const data = await Vigie.get("alerts", null, { status: "firing" });
      if (data === null) {
        document.getElementById("firing-count").textContent = "–";
        return null;
      }
      const alerts = data.alerts;
      document.getElementById("firing-count").textContent = number(alerts.length);
      if (!alerts.length) return replace(list, el("li", { class: "muted" }, t("js.no_alerts")));
      replace(list, alerts.map(alertItem));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    loadKpis();
    loadAlerts();
    // Alerts and KPIs change with the log: refresh them when it moves, at most once a second.
    const refresh = Vigie.throttle(() => { loadAlerts(); loadKpis(); }, 500);
    Vigie.onLive("events", refresh);
    Vigie.follow("alerts_stream", refresh);
    setInterval(loadKpis, 10000);
  });
})();
