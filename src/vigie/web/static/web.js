// Web: visitors on the site now, the funnels with their drop-offs, campaign time slots
// against the same slot on other days, and one visitor's journey.
"use strict";

(() => {
  const { t, el, replace, number, time, dateTime } = Vigie;

  function seconds(value) {
    if (value == null) return "–";
    if (value < 60) return t("js.web.seconds", { n: Math.round(value) });
    return t("js.web.minutes", { n: Vigie.decimal(value / 60, 1) });
  }

  function funnelBlock(report) {
    const chart = el("div", { class: "chart", role: "img", "aria-label": t("js.web.funnel_chart", { name: report.name }) });
    const table = el("div", { class: "table-wrap" }, el("table", {},
      el("caption", { class: "visually-hidden" }, report.name),
      el("thead", {}, el("tr", {}, [t("js.web.step"), t("js.web.visitors"), t("js.web.conversion"), t("js.web.drop_off"), t("js.web.median_time")]
        .map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, report.steps.map((s) => el("tr", { "data-step": s.step },
        el("th", { scope: "row" }, s.name), el("td", {}, number(s.visitors)), el("td", {}, Vigie.percent(s.conversion)),
        el("td", {}, s.step === 0 ? "–" : `${number(s.drop_off)} (${Vigie.percent(s.drop_off_rate)})`),
        el("td", {}, s.step === 0 ? "–" : seconds(s.median_seconds_from_previous)))))));
    const block = el("article", { class: "card funnel", "data-funnel": report.name },
      el("h3", {}, report.name),
      el("p", { class: "muted" }, t("js.web.funnel_summary", { entered: number(report.entered), converted: number(report.converted), rate: Vigie.percent(report.conversion) })),
      chart, table);
    requestAnimationFrame(() => Vigie.bars(chart, report.steps.map((s) => s.name), [
      { name: t("js.web.visitors"), values: report.steps.map((s) => s.visitors) },
      { name: t("js.web.drop_off"), values: report.steps.map((s) => (s.step === 0 ? 0 : s.drop_off)) },
    ]));
    return block;
  }

  async function loadFunnels() {
    const container = document.getElementById("funnels");
    await Vigie.section(container, async () => {
      const list = await Vigie.get("funnels");
      if (list === null) return null;
      if (!list.funnels.length) return replace(container, Vigie.notice("js.web.no_funnels"));
      const reports = await Promise.all(list.funnels.map((f) => Vigie.get("funnel", { name: f.name }, { dropped_limit: 0 })));
      replace(container, reports.map(funnelBlock));
    });
  }

  function slotBlock(slots) {
    const chart = el("div", { class: "chart", role: "img", "aria-label": t("js.web.slot_chart", { name: slots.campaign }) });
    const metrics = [["visitors", t("js.web.visitors")], ["campaign_visitors", t("js.web.campaign_visitors")], ["signups", t("js.web.signups")], ["conversions", t("js.web.conversions")]];
    const figures = slots.figures || {};
    const table = el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["", t("js.web.this_day"), t("js.web.baseline"), t("js.web.lift")].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, metrics.map(([key, label]) => {
        const lift = (slots.lift || {})[key];
        return el("tr", { "data-metric": key }, el("th", { scope: "row" }, label), el("td", {}, number(figures[key])),
          el("td", {}, Vigie.decimal((slots.other_days_mean || {})[key], 1)),
          el("td", { class: lift != null && lift < 0 ? "error" : "" }, lift == null ? "–" : Vigie.percent(lift)));
      }))));
    const days = slots.days || [];
    if (days.length) requestAnimationFrame(() => Vigie.bars(chart, days.map((d) => d.day), [
      { name: t("js.web.visitors"), values: days.map((d) => d.visitors) },
      { name: t("js.web.signups"), values: days.map((d) => d.signups) },
      { name: t("js.web.conversions"), values: days.map((d) => d.conversions) },
    ]));
    return el("article", { class: "card", "data-campaign": slots.campaign },
      el("h3", {}, slots.campaign),
      el("p", { class: "muted" }, t("js.web.slot_summary", { slot: slots.slot, timezone: slots.timezone, day: slots.day || "–" })),
      table, days.length ? chart : Vigie.notice("js.no_data"));
  }

  async function loadCampaigns() {
    const container = document.getElementById("campaigns");
    await Vigie.section(container, async () => {
      if (!Vigie.has("campaign_slots")) return null;
      const names = Vigie.page.campaigns || [];
      if (!names.length) return replace(container, Vigie.notice("js.web.no_campaigns"));
      const all = await Promise.all(names.map((name) => Vigie.get("campaign_slots", { name })));
      replace(container, all.map(slotBlock));
    });
  }

  function journeyBlock(journey) {
    return el("div", {},
      el("p", {}, t("js.web.journey_summary", { sessions: journey.sessions.length, pages: journey.pages_viewed }),
        journey.campaigns.length ? ` · ${t("js.web.campaigns", { names: journey.campaigns.join(", ") })}` : ""),
      journey.sessions.map((s) => el("article", { class: "card session" },
        el("h3", {}, t("js.web.session", { n: s.number }), " ", el("span", { class: "muted" }, `${dateTime(s.started_at)} · ${seconds(s.duration_seconds)}`),
          s.campaign ? Vigie.badge("", s.campaign) : null, s.bounce ? Vigie.badge("", t("js.web.bounce")) : null),
        el("ol", { class: "steps" }, s.steps.map((step) => el("li", {},
          el("time", { datetime: step.at }, time(step.at)), " ",
          step.type === "page" ? el("span", {}, step.path || step.name || "") : el("strong", {}, step.name || step.type),
          step.revisit ? el("span", { class: "muted" }, ` (${t("js.web.revisit")})`) : null))))));
  }

  async function showJourney(visitor) {
    const container = document.getElementById("journey");
    await Vigie.section(container, async () => {
      if (!Vigie.has("journey")) return null;
      const response = await fetch(Vigie.url("journey", { visitor_id: visitor }), { credentials: "same-origin" });
      if (response.status === 404) return replace(container, Vigie.notice("js.web.no_journey", { visitor }));
      if (!response.ok) throw new Error(`${response.status}`);
      replace(container, journeyBlock(await response.json()));
    });
  }

  Vigie.onLive("snapshot", (s) => { document.getElementById("visitors-now").textContent = number(s.visitors_now); });
  Vigie.onLive("events", (m) => { document.getElementById("visitors-now").textContent = number(m.visitors_now); });

  document.addEventListener("DOMContentLoaded", () => {
    loadFunnels();
    loadCampaigns();
    const form = document.getElementById("journey-form");
    const input = document.getElementById("visitor-id");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const visitor = input.value.trim();
      if (!visitor) return;
      history.replaceState(null, "", `?visitor=${encodeURIComponent(visitor)}`);
      showJourney(visitor);
    });
    const asked = new URLSearchParams(location.search).get("visitor");
    if (asked) { input.value = asked; showJourney(asked); }
    else replace(document.getElementById("journey"), Vigie.notice("js.web.journey_help"));
    Vigie.onLive("events", Vigie.throttle(() => { loadFunnels(); loadCampaigns(); }, 2000));
  });
})();
