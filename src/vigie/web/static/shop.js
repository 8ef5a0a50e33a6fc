// Shop: the aisles as a heat map of pick-ups, occupancy against capacity, and each display
// with its uplift and the relocation advice (one click to move it).
"use strict";

(() => {
  const { t, el, replace, number, percent } = Vigie;
  const sites = Vigie.page.sites || [];
  const canMove = Boolean(Vigie.page.can_move);
  const site = () => (document.getElementById("site") || {}).value || sites[0];
  const signalBadge = (s) => ({ open: "resolved", slow: "held", full: "firing" })[s] || "";
  const signed = (value) => (value == null ? "–" : `${value >= 0 ? "+" : ""}${percent(value)}`);

  function heat(aisles) {
    const top = Math.max(1, ...aisles.map((a) => a.recent));
    return el("div", { class: "tiles", role: "list" }, aisles.map((a) => {
      const share = a.recent / top;
      return el("div", {
        class: "tile", role: "listitem", "data-aisle": a.aisle, "data-heat": share.toFixed(2),
        style: `background: hsl(${Math.round(210 - 210 * share)} 80% ${Math.round(96 - 36 * share)}%)`,
      },
      el("p", { class: "tile-label" }, a.aisle),
      el("span", { class: "big" }, number(a.recent)),
      el("span", { class: "muted" }, t("js.sensors.now", { count: number(a.now) })),
      aisles.length >= 3 && a.peer_rank < 0.1 ? Vigie.badge("firing", t("js.sensors.bottom")) : null,
      a.categories.length ? el("span", { class: "muted" }, a.categories.join(", ")) : null);
    }));
  }

  function move(display, aisle, box) {
    Vigie.send("POST", "sensors_move", { display }, { aisle, reason: t("js.sensors.moved_from_dashboard") })
      .then(load)
      .catch((error) => box.append(el("p", { class: "error", role: "alert" }, error.message)));
  }

  function displayCard(d, aisles) {
    const box = el("article", { class: "card", "data-display": d.display, "data-aisle": d.aisle });
    const up = d.uplift;
    const advice = d.recommendation;
    const best = advice.ranking[0];
    box.append(
      el("h3", {}, d.display),
      el("p", {}, t("js.sensors.stands_in", { aisle: d.aisle })),
      el("p", { "data-uplift": "" }, up
        ? t("js.sensors.uplift", { uplift: signed(up.uplift), low: signed(up.low), high: signed(up.high), p: up.p_value.toPrecision(2) })
        : t("js.sensors.no_baseline")),
      el("p", { "data-recommendation": advice.to || "" }, advice.to
        ? t("js.sensors.recommend", { from: d.aisle, to: advice.to, uplift: signed(best.expected_uplift), low: signed(best.low), high: signed(best.high) })
        : t("js.sensors.no_recommendation")),
    );
    if (canMove) {
      const choice = el("select", { "aria-label": t("js.sensors.move_to") },
        aisles.filter((a) => a.aisle !== d.aisle).map((a) => el("option", { value: a.aisle }, a.aisle)));
      if (advice.to) choice.value = advice.to;
      box.append(el("form", { class: "inline", "data-form": "move", onsubmit: (e) => { e.preventDefault(); move(d.display, choice.value, box); } },
        choice, el("button", { type: "submit" }, t("js.sensors.move"))));
    }
    const moves = d.placements.filter((p) => p.starts_us > 0);
    if (moves.length) {
      box.append(el("ul", { class: "feed" }, moves.map((p) => el("li", {},
        t("js.sensors.placement", { aisle: p.aisle, by: p.moved_by, time: Vigie.dateTime(new Date(p.starts_us / 1000).toISOString()) })))));
    }
    return box;
  }

  async function load() {
    const occupancy = document.getElementById("occupancy");
    const aisles = document.getElementById("aisles");
    const displays = document.getElementById("displays");
    if (!sites.length) {
      for (const box of [occupancy, aisles, displays]) replace(box, Vigie.notice("js.sensors.no_sites"));
      return;
    }
    await Vigie.section(aisles, async () => {
      const data = await Vigie.get("sensors_shop", { site: site() });
      if (data === null) return null;
      const o = data.occupancy;
      replace(occupancy, el("p", { "data-signal": o.signal },
        el("span", { class: "big" }, `${number(o.inside)} / ${number(o.capacity)}`), " ",
        Vigie.badge(signalBadge(o.signal), t(`js.sensors.signal_${o.signal}`))));
      replace(aisles, heat(data.aisles));
      if (!data.displays.length) replace(displays, Vigie.notice("js.sensors.no_displays"));
      else replace(displays, el("div", { class: "displays" }, data.displays.map((d) => displayCard(d, data.aisles))));
      return true;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const chooser = document.getElementById("site");
    if (chooser) chooser.addEventListener("change", load);
    load();
    setInterval(load, 30000);
    Vigie.onLive("events", Vigie.throttle(load, 3000));
  });
})();
