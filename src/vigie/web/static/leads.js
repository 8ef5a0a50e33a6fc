// Leads: the companies lead scoring handed to the signed-in rep (or to everyone, for a
// manager), due first; accept, reject with a reason, or convert into an account and a deal.
"use strict";

(() => {
  const { t, el, replace, percent, dateTime } = Vigie;
  const names = (Vigie.page.names || {})[Vigie.lang] || { nace: {}, region: {} };

  // A NACE code's name: its class, else its division, else its section; else the code.
  function sector(code) {
    if (!code) return "–";
    const digits = code.replace(".", "");
    return names.nace[code] || names.nace[digits.slice(0, 2)] || names.nace[code.toUpperCase()] || code;
  }
  const region = (value) => (value ? names.region[value.toLowerCase()] || value : "–");
  const statusLabel = (status) => t(`js.leads.status_${status}`);

  async function act(lead, action, body, row) {
    const message = row.querySelector("[data-message]");
    try {
      await Vigie.send("POST", `lead_${action}`, { record_id: lead.id }, body);
      await load();
    } catch (error) {
      replace(message, el("span", { class: "error", role: "alert" }, error.message));
    }
  }

  function actions(lead) {
    if (!Vigie.page.can_act || !["new", "accepted"].includes(lead.status)) return null;
    const reasonId = `reason-${lead.id}`;
    const box = el("div", { class: "lead-actions" });
    const reason = el("input", { id: reasonId, type: "text", maxlength: "200", "data-reason": "" });
    box.append(
      lead.status === "new" ? el("button", { type: "button", "data-action": "accept", onclick: () => act(lead, "accept", undefined, box) }, t("js.leads.accept")) : null,
      el("button", { type: "button", "data-action": "convert", onclick: () => act(lead, "convert", {}, box) }, t("js.leads.convert")),
      el("label", { for: reasonId }, t("js.leads.reason")), reason,
      el("button", { type: "button", "data-action": "reject", onclick: () => act(lead, "reject", { reason: reason.value }, box) }, t("js.leads.reject")),
      el("p", { "data-message": "" }),
    );
    return box;
  }

  function card(lead) {
    const reason = Vigie.lang === "fr" ? lead.reason_fr : lead.reason_en;
    return el("article", { class: "card", "data-lead": lead.id, "data-status": lead.status },
      el("h2", {}, lead.name, " ", Vigie.badge(lead.status === "rejected" ? "failed" : lead.status === "converted" ? "succeeded" : "pending", statusLabel(lead.status))),
      el("p", { "data-segment": "" }, `${sector(lead.nace)} · ${region(lead.region)}${lead.size_band ? ` · ${lead.size_band}` : ""}`),
      el("p", {}, t("js.leads.figures", { score: lead.score ?? "–", probability: percent(lead.probability), expected: percent(lead.expected), rep: percent(lead.rep_rate) })),
      el("p", { class: "muted" }, t("js.leads.due", { due: dateTime(lead.due_at) })),
      reason ? el("p", { class: "muted", "data-reason-text": "" }, reason) : null,
      lead.reject_reason ? el("p", {}, t("js.leads.rejected_because", { reason: lead.reject_reason })) : null,
      actions(lead));
  }

  async function load() {
    const box = document.getElementById("leads");
    const status = document.getElementById("leads-status").value;
    await Vigie.section(box, async () => {
      const data = await Vigie.get("leads", null, { status, sort: "due_at", limit: 200 });
      if (data === null) return null;
      const items = status ? data.items : data.items.filter((l) => l.status === "new" || l.status === "accepted");
      if (!items.length) return replace(box, Vigie.notice("js.leads.none"));
      replace(box, items.map(card));
      return true;
    });
  }

  async function switchModel(name, params, box) {
    try {
      await Vigie.send("POST", name, params);
      await loadModels();
    } catch (error) {
      box.append(el("p", { class: "error", role: "alert" }, error.message));
    }
  }

  function modelRow(item, box) {
    const gate = item.gate ? (Vigie.lang === "fr" && item.gate.reason_fr) || item.gate.reason : "–";
    const promote = Vigie.page.can_manage && !item.active
      ? el("button", { type: "button", "data-promote": item.version, onclick: () => switchModel("lead_model_promote", { version: item.version }, box) }, t("js.leads.promote"))
      : null;
    return el("tr", { "data-version": item.version, "data-active": item.active ? "true" : "false" },
      el("th", { scope: "row" }, item.version), el("td", {}, dateTime(item.trained_at)),
      el("td", {}, item.auc == null ? "–" : Vigie.decimal(item.auc, 3)),
      el("td", {}, item.active ? t("js.leads.active") : ""), el("td", {}, gate), el("td", {}, promote));
  }

  // The active model's card: what was chosen, how well it did on rows it had not seen
  // against the naive baseline, how calibrated, the shift warning, the refit and bias check.
  function modelCard(card) {
    const m = card.held_out;
    const ci = m.auc_ci ? ` [${Vigie.decimal(m.auc_ci[0], 3)} – ${Vigie.decimal(m.auc_ci[1], 3)}]` : "";
    const warning = card.shift.warning ? Vigie.localized(card.shift.warning, "") : null;
    const refit = card.refit.done
      ? t("js.leads.card_refit_yes", { rows: card.refit.rows, how: (Vigie.lang === "fr" && card.refit.calibration_fr) || card.refit.calibration || "–" })
      : t("js.leads.card_refit_no");
    let bias = t("js.leads.card_bias_none");
    if (card.bias) {
      const flagged = card.bias.columns.flatMap((c) => c.flagged.map((g) => `${g.group} (${Vigie.decimal(g.ratio_to_best, 2)})`));
      bias = flagged.length
        ? t("js.leads.card_bias_flagged", { count: flagged.length, groups: flagged.join(", ") })
        : t("js.leads.card_bias_clear", { leads: card.bias.leads });
    }
    const row = (key, value, attrs) => el("tr", attrs || {}, el("th", { scope: "row" }, t(key)), el("td", {}, value));
    return [
      el("h3", {}, t("js.leads.card_title", { version: card.version })),
      warning ? el("p", { class: "error", role: "alert", "data-shift": "" }, `⚠ ${warning}`) : el("p", { "data-shift": "none" }, t("js.leads.card_no_shift")),
      el("div", { class: "table-wrap" }, el("table", { "data-card": card.version }, el("tbody", {},
        row("js.leads.trained", dateTime(card.trained_at)),
        row("js.leads.card_model", t(`js.leads.card_model_${card.model}`), { "data-model": card.model }),
        row("js.leads.card_auc", t("js.leads.card_auc_value", { auc: `${Vigie.decimal(m.auc, 3)}${ci}`, naive: Vigie.decimal(card.naive_auc, 3) }), { "data-auc": "" }),
        row("js.leads.card_calibration", t("js.leads.card_calibration_value", { ece: Vigie.decimal(m.ece, 3), predicted: percent(m.mean_predicted), observed: percent(m.positive_rate) }), { "data-calibration": "" }),
        row("js.leads.card_refit", refit, { "data-refit": card.refit.done ? "yes" : "no" }),
        row("js.leads.card_bias", bias, { "data-bias": card.bias ? String(card.bias.flagged) : "none" }),
      ))),
      el("p", { class: "muted" }, t("js.leads.card_help")),
    ];
  }

  async function loadCard(active) {
    const box = document.getElementById("lead-card");
    if (!active) return replace(box);
    await Vigie.section(box, async () => {
      const card = await Vigie.get("lead_model_card");
      if (card === null) return null;
      replace(box, modelCard(card));
      return true;
    });
  }

  async function loadModels() {
    const box = document.getElementById("lead-models");
    await Vigie.section(box, async () => {
      const data = await Vigie.get("lead_models");
      if (data === null) return null;
      if (!data.versions.length) return replace(box, Vigie.notice("js.leads.no_models"));
      const drift = data.monitoring
        ? el("p", { "data-drift": data.monitoring.level }, t("js.leads.drift", { psi: Vigie.decimal(data.monitoring.psi, 3), level: t(`js.leads.drift_${data.monitoring.level}`) }))
        : null;
      const back = Vigie.page.can_manage && data.history.length > 1
        ? el("button", { type: "button", "data-rollback": "", onclick: () => switchModel("lead_model_rollback", {}, box) }, t("js.leads.rollback"))
        : null;
      replace(box, drift, el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, ["js.leads.version", "js.leads.trained", "AUC", "js.leads.state", "js.leads.gate", ""].map((h) => el("th", { scope: "col" }, h.startsWith("js.") ? t(h) : h)))),
        el("tbody", {}, data.versions.map((item) => modelRow(item, box))))), back);
      await loadCard(data.active);
      return true;
    });
  }

  function publishButton() {
    const box = document.getElementById("lead-publish");
    if (!Vigie.page.can_manage || !Vigie.has("lead_publish")) return;
    const said = el("p", { "data-published": "", role: "status" });
    const button = el("button", { type: "button", "data-publish": "", onclick: async () => {
      try {
        const done = await Vigie.send("POST", "lead_publish", null, { limit: 1000 });
        replace(said, t("js.leads.published", done));
        await load();
      } catch (error) {
        replace(said, el("span", { class: "error", role: "alert" }, error.message));
      }
    } }, t("js.leads.publish"));
    replace(box, button, said);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("leads-status").addEventListener("change", load);
    publishButton();
    load();
    loadModels();
  });
})();
