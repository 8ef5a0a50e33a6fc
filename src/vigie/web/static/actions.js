// Actions: what playbooks did (tasks, page flags, offers, broadcasts, queue moves), to close or undo.
"use strict";

(() => {
  const { t, el, replace, dateTime } = Vigie;
  const stateBadge = (s) => ({ open: "warning", done: "succeeded", expired: "", undone: "" })[s] || "";

  async function change(action, verb) {
    const name = verb === "close" ? "action_close" : "action_undo";
    try {
      await Vigie.send("POST", name, { kind: action.kind, action_id: action.id }, { note: "" });
    } catch (error) {
      window.alert(error.message);
    }
    load();
  }

  function row(a) {
    const can = (Vigie.page || {}).can_act;
    return el("tr", { "data-action": `${a.kind}-${a.id}`, "data-state": a.state },
      el("td", {}, t(`js.actions.kind_${a.kind}`)),
      el("th", { scope: "row" }, a.summary),
      el("td", {}, a.target, a.crm_task ? el("div", { class: "muted" }, t("js.alerts.crm_task", { id: a.crm_task })) : null),
      el("td", {}, Vigie.badge(stateBadge(a.state), t(`js.actions.state_${a.state}`))),
      el("td", {}, a.playbook || "–"),
      el("td", {}, dateTime(a.created_at)),
      el("td", {},
        can && a.can_close ? el("button", { type: "button", "data-do": "close", onclick: () => change(a, "close") }, t("js.actions.close")) : null,
        can && a.can_undo ? el("button", { type: "button", "data-do": "undo", onclick: () => change(a, "undo") }, t("js.actions.undo")) : null,
        a.changes.length ? el("div", { class: "muted" }, a.changes.map((c) => `${t(`js.actions.state_${c.to_state}`)} · ${c.by} · ${dateTime(c.at)}`).join("; ")) : null));
  }

  async function load() {
    const box = document.getElementById("actions");
    const state = document.getElementById("actions-state").value;
    await Vigie.section(box, async () => {
      const data = await Vigie.get("actions", null, { state });
      if (data === null) return null;
      if (!data.actions.length) return replace(box, Vigie.notice("js.actions.none"));
      const heads = ["js.actions.kind", "js.actions.what", "js.actions.target", "js.actions.state", "js.actions.playbook", "js.actions.when", "js.actions.do"];
      replace(box, el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, t(h))))),
        el("tbody", {}, data.actions.map(row)))));
      return true;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("actions-state").addEventListener("change", load);
    load();
    setInterval(load, 30000);
  });
})();
