// The weekly review: the chosen ISO week's report, framed from the API (HTML, in the
// viewer's language and time zone), and the same report as a PDF to download.
"use strict";

(() => {
  const { t, el, lang, timeZone, replace, notice, has, url, get, send, dateTime } = Vigie;
  const canTune = Boolean((Vigie.page || {}).can_tune);

  // The ISO week ("2026-W48") of a day: the week of that day's Thursday.
  function isoWeek(day) {
    const date = new Date(Date.UTC(day.getFullYear(), day.getMonth(), day.getDate()));
    const weekday = date.getUTCDay() || 7;
    date.setUTCDate(date.getUTCDate() + 4 - weekday);
    const first = new Date(Date.UTC(date.getUTCFullYear(), 0, 1));
    const number = Math.ceil(((date - first) / 86400000 + 1) / 7);
    return `${date.getUTCFullYear()}-W${String(number).padStart(2, "0")}`;
  }

  // The parameter a threshold or change rule is tuned by, read from its latest version.
  function parameterOf(body) {
    if (body.kind === "threshold") return "value";
    return body.drop != null ? "drop" : "rise";
  }

  async function tune(rule, parameter, value, reason) {
    const state = document.getElementById("review-state");
    try {
      const made = await send("POST", "rule_versions", { name: rule }, { parameter, value, reason });
      replace(state, notice("js.review.tuned", { rule, version: made.version }));
    } catch (error) {
      replace(state, el("p", { class: "error", role: "alert" }, error.message));
    }
    await thresholds();
  }

  async function restore(rule, version) {
    const state = document.getElementById("review-state");
    try {
      const made = await send("POST", "rule_restore", { name: rule, version }, { reason: "" });
      replace(state, notice("js.review.restored", { rule, version, now: made.version }));
    } catch (error) {
      replace(state, el("p", { class: "error", role: "alert" }, error.message));
    }
    await thresholds();
  }

  function thresholdRow(history) {
    const versions = history.versions;
    const last = versions[versions.length - 1];
    const parameter = parameterOf(last.body);
    const current = last.body[parameter];
    const input = el("input", { type: "number", step: "any", name: "value", value: current, required: true,
      "aria-label": t("js.review.new_value", { rule: history.rule }) });
    const form = canTune ? el("form", { class: "inline-form", "data-form": "tune", onsubmit: (event) => {
      event.preventDefault();
      tune(history.rule, parameter, Number(input.value), t("js.review.by_hand"));
    } }, input, el("button", { type: "submit" }, t("js.review.apply"))) : null;
    const past = versions.slice().reverse().map((v) => el("li", { "data-version": v.version },
      `v${v.version} · ${v.actor}`, v.at ? ` · ${dateTime(v.at)}` : "", v.reason ? ` · ${v.reason}` : "",
      v.changes.map((c) => el("div", { class: "muted" }, `${c.field}: ${c.before} → ${c.after}`)),
      canTune && v.version !== last.version
        ? el("button", { type: "button", "data-restore": v.version, onclick: () => restore(history.rule, v.version) },
          t("js.review.restore", { version: v.version }))
        : null));
    return el("tr", { "data-rule": history.rule, "data-value": current },
      el("th", { scope: "row" }, history.rule), el("td", {}, `${parameter} ${last.body.op || ""} ${current}`),
      el("td", {}, form), el("td", {}, el("ol", { class: "plain" }, past)));
  }

  async function thresholds() {
    const container = document.getElementById("thresholds");
    await Vigie.section(container, async () => {
      const data = await get("rules");
      if (!data || !has("rule_versions")) return null;
      const tunable = data.rules.filter((r) => r.kind === "threshold" || r.kind === "change");
      if (!tunable.length) return replace(container, notice("js.review.no_thresholds")) || true;
      const histories = await Promise.all(tunable.map((r) => get("rule_versions", { name: r.name })));
      replace(container, el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, ["js.review.rule", "js.review.now", "js.review.new", "js.review.versions"]
          .map((h) => el("th", { scope: "col" }, t(h))))),
        el("tbody", {}, histories.map(thresholdRow)))));
      return true;
    });
  }

  async function suggestions(week) {
    const container = document.getElementById("suggestions");
    try {
      const review = await get("weekly_review", {}, { week, format: "json" });
      const found = (review && review.tuning) || [];
      replace(container, found.length ? el("ul", { class: "plain" }, found.map((s) => el("li", { "data-suggestion": s.rule },
        s.sentence[lang] || s.sentence.en, " ",
        canTune && s.proposed != null
          ? el("button", { type: "button", onclick: () => tune(s.rule, s.parameter, s.proposed, t("js.review.from_review", { week })) },
            t("js.review.apply_suggestion"))
          : null))) : notice("js.review.no_suggestions"));
    } catch (error) {
      replace(container, el("p", { class: "error", role: "alert" }, t("js.load_failed", { error: error.message })));
    }
  }

  function show(week) {
    const frame = document.getElementById("review-frame");
    const query = { week, language: lang, tz: timeZone };
    frame.src = url("weekly_review", {}, { ...query, format: "html" });
    document.getElementById("review-pdf").href = url("weekly_review", {}, { ...query, format: "pdf" });
    replace(document.getElementById("review-state"), notice("js.review.loading", { week }));
    frame.onload = () => replace(document.getElementById("review-state"));
    suggestions(week);
  }

  if (!has("weekly_review")) {
    replace(document.getElementById("review-state"), notice("js.not_configured"));
    return;
  }
  const input = document.getElementById("review-week");
  const lastWeek = new Date(Date.now() - 7 * 86400000);
  input.value = new URLSearchParams(location.search).get("week") || isoWeek(lastWeek);
  document.getElementById("review-form").addEventListener("submit", (event) => {
    event.preventDefault();
    show(input.value);
  });
  show(input.value);
  thresholds();
})();
