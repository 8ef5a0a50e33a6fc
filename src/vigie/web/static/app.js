// Vigie's dashboard: shared helpers (messages, formatting, DOM, JSON APIs, live stream, charts).
"use strict";

const Vigie = (() => {
  const config = JSON.parse(document.getElementById("vigie-config").textContent);
  const lang = config.lang;

  function t(key, values) {
    let text = config.messages[key] ?? key;
    for (const [name, value] of Object.entries(values || {})) {
      text = text.replaceAll(`{${name}}`, String(value));
    }
    return text;
  }

  const numbers = new Intl.NumberFormat(lang);
  const number = (value) => (value == null ? "–" : numbers.format(value));
  // Times are shown in the viewer's time zone: their schedule's location when they have one,
  // else their browser's (never the server's, never UTC by default).
  const timeZone = config.timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone;
  const time = (iso) =>
    iso ? new Date(iso).toLocaleTimeString(lang, { timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "–";
  const dateTime = (iso) =>
    iso ? new Date(iso).toLocaleString(lang, { timeZone, dateStyle: "short", timeStyle: "medium" }) : "–";

  // Builds an element; children are nodes or strings (set as text, never as HTML).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child == null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function replace(container, ...children) {
    container.replaceChildren(...children.flat(Infinity).filter((c) => c != null));
  }

  function notice(key, values, tag) {
    return el(tag || "p", { class: "muted notice" }, t(key, values));
  }

  const has = (name) => name in config.apis;
  const page = config.page || {};
  const can = (resource) => Boolean((page.can || {})[resource]);

  // A text given per language ({en: …, fr: …}): the user's, else English, else any.
  function localized(texts, fallback) {
    if (!texts) return fallback;
    return texts[lang] || texts.en || Object.values(texts)[0] || fallback;
  }

  function decimal(value, digits) {
    if (value == null) return "–";
    return new Intl.NumberFormat(lang, { maximumFractionDigits: digits ?? 2 }).format(value);
  }

  const percent = (value) =>
    value == null ? "–" : new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 }).format(value);

  function alertSummary(alert) {
    const notes = alert.annotations || {};
    return notes[`summary_${lang}`] || notes.summary || notes.summary_en || "";
  }

  function badge(kind, text) {
    return el("span", { class: `badge ${kind}` }, text);
  }

  const statusText = (status) =>
    ({
      firing: t("js.status.firing"),
      pending: t("js.status.pending"),
      resolved: t("js.status.resolved"),
      held: t("js.status.held"),
      sending: t("js.status.sending"),
      delivered: t("js.status.delivered"),
      undeliverable: t("js.status.undeliverable"),
      running: t("js.status.running"),
      succeeded: t("js.status.succeeded"),
      failed: t("js.status.failed"),
      skipped: t("js.status.skipped"),
      digested: t("js.status.digested"),
      dropped: t("js.status.dropped"),
      active: t("js.status.active"),
      expired: t("js.status.expired"),
    })[status] || status;

  const severityText = (severity) =>
    ({ info: t("js.severity.info"), warning: t("js.severity.warning"), critical: t("js.severity.critical") })[severity] || severity;

  // Call `callback` at most once per `ms`, after the last request (for live refreshes).
  function throttle(callback, ms) {
    let timer = null;
    return () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        callback();
      }, ms);
    };
  }

  function url(name, params, query) {
    let path = config.apis[name];
    for (const [key, value] of Object.entries(params || {})) {
      path = path.replace(`{${key}}`, encodeURIComponent(value));
    }
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query || {})) {
      if (value != null && value !== "") search.set(key, value);
    }
    const qs = search.toString();
    return qs ? `${path}?${qs}` : path;
  }

  // GET a part's JSON API; resolves to null when the part is not installed on this server.
  async function get(name, params, query) {
    if (!has(name)) return null;
    const response = await fetch(url(name, params, query), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (response.status === 401) {
      window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
      return null;
    }
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    return response.json();
  }

  // POST, PUT or DELETE JSON to a part's API; resolves to the answer's JSON, or throws an
  // Error whose message is the server's reason (a 422 names the field).
  async function send(method, name, params, body) {
    const response = await fetch(url(name, params), {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = Array.isArray(data.detail)
        ? data.detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ")
        : data.detail || response.statusText;
      throw new Error(detail);
    }
    return data;
  }

  const itemTag = (container) => (container.tagName === "UL" || container.tagName === "OL" ? "li" : "p");

  // Run `load`, showing "not configured", "no data" or an error in `container` as needed.
  async function section(container, load) {
    try {
      const shown = await load();
      if (shown === null) replace(container, notice("js.not_configured", null, itemTag(container)));
    } catch (error) {
      replace(container, el(itemTag(container), { class: "error", role: "alert" }, t("js.load_failed", { error: error.message })));
    }
  }

  // The live stream of the event log, shared by every part of the page.
  const listeners = { snapshot: [], events: [] };
  function onLive(kind, callback) {
    listeners[kind].push(callback);
  }
  function setStatus(state) {
    const status = document.getElementById("live-status");
    if (!status) return;
    const labels = { live: t("js.live.live"), reconnecting: t("js.live.reconnecting") };
    status.dataset.state = state;
    status.textContent = labels[state];
  }
  function connect() {
    const source = new EventSource("/api/live");
    source.addEventListener("open", () => setStatus("live"));
    source.addEventListener("error", () => setStatus("reconnecting"));
    for (const kind of Object.keys(listeners)) {
      source.addEventListener(kind, (message) => {
        const data = JSON.parse(message.data);
        setStatus("live");
        for (const callback of listeners[kind]) callback(data);
      });
    }
    window.addEventListener("pagehide", () => source.close());
    return source;
  }

  // Follow another Server-Sent Events stream (e.g. a part's alert stream) if installed.
  function follow(name, onMessage) {
    if (!has(name)) return null;
    const source = new EventSource(url(name));
    source.addEventListener("message", (m) => onMessage(JSON.parse(m.data), "message"));
    for (const kind of ["alert", "firing", "resolved", "update"]) {
      source.addEventListener(kind, (m) => onMessage(JSON.parse(m.data), kind));
    }
    window.addEventListener("pagehide", () => source.close());
    return source;
  }

  const palette = { line: "#1f4e79", fill: "rgba(31,78,121,0.15)", threshold: "#b3261e" };

  // A small line chart without axes; `threshold` draws a dashed red line.
  function sparkline(node, points, options) {
    const opts = options || {};
    // One point draws no line: repeat it so that a new series shows at once.
    const values = points.length === 1 ? [points[0], points[0]] : points;
    const x = opts.x || values.map((_, i) => i);
    const trace = {
      x,
      y: values,
      type: "scatter",
      mode: "lines",
      fill: "tozeroy",
      line: { color: palette.line, width: 2, shape: "linear" },
      fillcolor: palette.fill,
      hoverinfo: "y",
    };
    const shapes = [];
    if (opts.threshold != null) {
      shapes.push({
        type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: opts.threshold, y1: opts.threshold,
        line: { color: palette.threshold, width: 1.5, dash: "dash" },
      });
    }
    const top = Math.max(1, ...values.filter((v) => v != null), opts.threshold ?? 0);
    const layout = {
      margin: { l: 0, r: 0, t: 2, b: 0 },
      height: opts.height || 48,
      xaxis: { visible: false, fixedrange: true },
      yaxis: { visible: false, fixedrange: true, range: [0, top * 1.15] },
      shapes,
      showlegend: false,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
    };
    window.Plotly.react(node, [trace], layout, { staticPlot: true, responsive: true, displayModeBar: false });
  }

  // A bar chart with axes, for funnels and time slots.
  function bars(node, labels, series, options) {
    const opts = options || {};
    const colors = ["#1f4e79", "#9aa5b1", "#b3261e"];
    const traces = series.map((s, i) => ({
      x: labels, y: s.values, name: s.name, type: s.type || "bar",
      marker: { color: colors[i % colors.length] }, line: { color: colors[i % colors.length] },
    }));
    const layout = {
      margin: { l: 48, r: 8, t: 8, b: 64 },
      height: opts.height || 280,
      barmode: "group",
      showlegend: series.length > 1,
      legend: { orientation: "h" },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      xaxis: { type: "category", automargin: true },
      yaxis: { rangemode: "tozero", automargin: true },
    };
    window.Plotly.react(node, traces, layout, { responsive: true, displayModeBar: false });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const zone = document.getElementById("time-zone");
    if (zone) zone.textContent = t("js.time_zone", { zone: timeZone });
    connect();
  });

  return {
    config, lang, page, timeZone, t, number, send, decimal, percent, time, dateTime, el, replace, notice, has, can, url, get,
    section, onLive, follow, sparkline, bars, localized, alertSummary, badge, statusText, severityText, throttle,
  };
})();
