// The weekly review: the chosen ISO week's report, framed from the API (HTML, in the
// viewer's language and time zone), and the same report as a PDF to download.
"use strict";

(() => {
  const { t, lang, timeZone, replace, notice, has, url } = Vigie;

  // The ISO week ("2026-W48") of a day: the week of that day's Thursday.
  function isoWeek(day) {
    const date = new Date(Date.UTC(day.getFullYear(), day.getMonth(), day.getDate()));
    const weekday = date.getUTCDay() || 7;
    date.setUTCDate(date.getUTCDate() + 4 - weekday);
    const first = new Date(Date.UTC(date.getUTCFullYear(), 0, 1));
    const number = Math.ceil(((date - first) / 86400000 + 1) / 7);
    return `${date.getUTCFullYear()}-W${String(number).padStart(2, "0")}`;
  }

  function show(week) {
    const frame = document.getElementById("review-frame");
    const query = { week, language: lang, tz: timeZone };
    frame.src = url("weekly_review", {}, { ...query, format: "html" });
    document.getElementById("review-pdf").href = url("weekly_review", {}, { ...query, format: "pdf" });
    replace(document.getElementById("review-state"), notice("js.review.loading", { week }));
    frame.onload = () => replace(document.getElementById("review-state"));
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
})();
