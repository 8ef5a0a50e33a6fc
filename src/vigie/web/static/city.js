// City: zones by density against capacity, congested or not, where people are sent, and
// who counted them (a counter, a drone, a camera's footage).
"use strict";

(() => {
  const { t, el, replace, number, percent } = Vigie;

  async function load() {
    const zones = document.getElementById("zones");
    await Vigie.section(zones, async () => {
      const data = await Vigie.get("sensors_city");
      if (data === null) return null;
      if (!data.zones.length) return replace(zones, Vigie.notice("js.sensors.no_zones"));
      replace(zones, el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, [t("js.sensors.zone"), t("js.sensors.people"), t("js.sensors.density"), t("js.sensors.state"), t("js.sensors.redirect"), t("js.sensors.source")].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, data.zones.map((z) => {
          const share = Math.min(1, z.density);
          return el("tr", { "data-zone": z.zone, "data-congested": String(z.congested) },
            el("th", { scope: "row" }, z.zone),
            el("td", {}, `${number(z.count)} / ${number(z.capacity)}`),
            el("td", { style: `background: hsl(${Math.round(120 - 120 * share)} 75% 85%)` },
              z.people_per_m2 == null ? percent(z.density)
                : `${percent(z.density)} · ${t("js.sensors.per_m2", { value: number(Math.round(z.people_per_m2 * 100) / 100) })}`),
            el("td", {}, z.congested ? Vigie.badge("firing", t("js.sensors.congested")) : Vigie.badge("resolved", t("js.sensors.fluid"))),
            el("td", {}, z.redirect_to || "–"),
            el("td", { "data-source": z.source || "" }, z.source || "–"));
        })))));
      return true;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    load();
    setInterval(load, 30000);
    Vigie.onLive("events", Vigie.throttle(load, 3000));
  });
})();
