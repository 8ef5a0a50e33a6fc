// Experiments: each A/B/n test's arms, and its verdict once the planned sample is reached.
"use strict";

(() => {
  const { t, el, replace, number, percent, decimal } = Vigie;

  function card(item) {
    const exp = item.experiment;
    const v = item.verdict;
    const byVariant = Object.fromEntries(v.comparisons.map((c) => [c.variant, c]));
    const status = v.status === "complete" ? Vigie.badge("succeeded", t("js.experiments.complete")) : Vigie.badge("pending", t("js.experiments.running"));
    // Time blocks: the arms count blocks and the metric's total; rates and lifts are per block.
    const blocks = v.design === "time_blocks";
    const design = blocks
      ? t("js.experiments.design_blocks", { metric: exp.metric, length: exp.blocks.length, planned: number(v.planned_per_arm), mde: decimal(exp.mde, 1) })
      : t("js.experiments.design", { metric: exp.metric, planned: number(v.planned_per_arm), mde: percent(exp.mde) });
    const rate = (a) => (blocks ? (a.exposed ? decimal(a.converted / a.exposed, 1) : "–") : percent(a.exposed ? a.converted / a.exposed : null));
    const scale = blocks ? 1 : 100;
    const heads = blocks
      ? ["js.experiments.variant", "js.experiments.blocks", "js.experiments.total", "js.experiments.per_block", "js.experiments.change", "js.experiments.p"]
      : ["js.experiments.variant", "js.experiments.exposed", "js.experiments.converted", "js.experiments.rate", "js.experiments.lift", "js.experiments.p"];
    return el("article", { class: "card", "data-experiment": exp.name, "data-status": v.status },
      el("h2", {}, exp.name, " ", status),
      exp.description ? el("p", { class: "muted" }, exp.description) : null,
      el("p", { class: "muted" }, design),
      v.sample_ratio_mismatch ? el("p", { class: "error", role: "alert" }, t("js.experiments.srm")) : null,
      el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, t(h))))),
        el("tbody", {}, v.arms.map((a) => {
          const c = byVariant[a.variant];
          return el("tr", { "data-variant": a.variant },
            el("th", { scope: "row" }, a.variant), el("td", {}, number(a.exposed)), el("td", {}, number(a.converted)),
            el("td", {}, rate(a)),
            el("td", {}, c ? `${decimal(c.lift * scale, 1)} [${decimal(c.low * scale, 1)}; ${decimal(c.high * scale, 1)}]` : "–"),
            el("td", {}, c ? decimal(c.p_value, 3) : "–"));
        })))),
      el("p", { class: "verdict", "data-verdict": "" }, v.sentence[Vigie.lang] || v.sentence.en));
  }

  async function load() {
    const box = document.getElementById("experiments");
    await Vigie.section(box, async () => {
      const data = await Vigie.get("experiments");
      if (data === null) return null;
      if (!data.experiments.length) return replace(box, Vigie.notice("js.experiments.none"));
      replace(box, data.experiments.map(card));
      return true;
    });
  }

  async function loadHoldouts() {
    const box = document.getElementById("holdouts");
    await Vigie.section(box, async () => {
      const data = await Vigie.get("holdouts");
      if (data === null) return null;
      if (!data.holdouts.length) return replace(box, Vigie.notice("js.experiments.no_holdouts"));
      replace(box, data.holdouts.map((h) => card({
        experiment: { name: `${h.playbook} · ${h.step}`, metric: h.holdout.metric, mde: h.holdout.mde, description: t("js.experiments.holdout_share", { share: percent(h.holdout.share) }) },
        verdict: h.verdict,
      })));
      return true;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    loadHoldouts();
    load();
    Vigie.onLive("events", Vigie.throttle(load, 3000));
  });
})();
