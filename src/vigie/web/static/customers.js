// Customers: search contacts and accounts, and read one's 360° timeline, newest first.
"use strict";

(() => {
  const { t, el, replace, dateTime } = Vigie;

  function nameOf(kind, item) {
    if (kind === "accounts") return item.name;
    const name = [item.first_name, item.last_name].filter(Boolean).join(" ");
    return name || item.email || item.id;
  }

  function detailOf(kind, item) {
    if (kind === "accounts") return [item.country, item.region, item.website].filter(Boolean).join(" · ");
    return [item.email, item.job_title].filter(Boolean).join(" · ");
  }

  async function search(kind, q) {
    const list = document.getElementById("customer-results");
    await Vigie.section(list, async () => {
      if (!Vigie.has(kind)) return null;
      if (!Vigie.can(kind)) return replace(list, el("li", { class: "muted" }, t("js.not_allowed")));
      const page = await Vigie.get(kind, null, { q, limit: 30 });
      if (!page.items.length) return replace(list, el("li", { class: "muted" }, t("js.customers.none")));
      replace(list, page.items.map((item) => el("li", {},
        el("button", { type: "button", "data-id": item.id, onclick: () => showTimeline(kind, item) },
          el("strong", {}, nameOf(kind, item)), el("div", { class: "muted" }, detailOf(kind, item))))));
    });
  }

  const categoryText = (category) =>
    ({
      web: t("js.category.web"),
      interaction: t("js.category.interaction"),
      deal: t("js.category.deal"),
      ticket: t("js.category.ticket"),
      task: t("js.category.task"),
      offer: t("js.category.offer"),
    })[category] || category;

  function timelineItem(item) {
    const details = Object.entries(item.details || {}).filter(([, v]) => v != null && typeof v !== "object");
    return el("li", { class: `moment ${item.category}` },
      el("time", { datetime: item.at }, dateTime(item.at)), " ",
      Vigie.badge("", categoryText(item.category)), el("strong", {}, item.title), " ",
      el("span", { class: "muted" }, item.kind),
      details.length ? el("div", { class: "muted" }, details.slice(0, 6).map(([k, v]) => `${k}: ${v}`).join(" · ")) : null);
  }

  // A contact's data-subject rights: download everything held about them, and (admins)
  // erase them everywhere after a confirmation.
  function privacyActions(kind, item) {
    if (kind !== "contacts" || !Vigie.has("privacy_export")) return null;
    const status = el("p", { id: "privacy-status", role: "status" });
    const erase = async () => {
      if (!window.confirm(t("js.privacy.confirm", { name: nameOf(kind, item) }))) return;
      try {
        const done = await Vigie.send("POST", "privacy_erase", { contact_id: item.id });
        const rows = Object.values(done.rows).reduce((a, b) => a + b, 0);
        // What the erasure could not reach (a stream it cannot rewrite) is said, not hidden.
        const left = (done.not_erased || []).map((what) =>
          el("span", { class: "error", role: "alert" }, " ", t("js.privacy.not_erased", { what })));
        replace(status, t("js.privacy.erased", { rows }), left);
        const kindSelect = document.getElementById("customer-kind");
        search(kindSelect.value, document.getElementById("customer-query").value.trim());
      } catch (error) {
        replace(status, el("span", { class: "error", role: "alert" }, t("js.privacy.failed", { error: error.message })));
      }
    };
    return el("div", { class: "actions privacy" },
      el("a", { class: "button", id: "privacy-export", href: Vigie.url("privacy_export", { contact_id: item.id }),
        download: `contact-${item.id}.json` }, t("js.privacy.export")), " ",
      Vigie.page.can_erase && Vigie.has("privacy_erase")
        ? el("button", { type: "button", id: "privacy-erase", class: "danger", onclick: erase }, t("js.privacy.erase"))
        : null,
      status);
  }

  // A contact's shop pick-ups through the loyalty rings linked to them, and linking one:
  // only with their consent to profiling (the server refuses otherwise, with a 409).
  function ringsSection(kind, item) {
    if (kind !== "contacts" || !Vigie.has("sensors_customer")) return null;
    const box = el("div", { id: "customer-shop", "aria-live": "polite" });
    const status = el("p", { id: "ring-status", role: "status" });
    const load = async () => {
      try {
        const shop = await Vigie.get("sensors_customer", { contact_id: item.id });
        if (shop === null) return;
        replace(box, shop.pickups.length
          ? el("ul", { class: "feed" }, shop.pickups.map((p) => el("li", {}, t("js.rings.pickups", { aisle: p.aisle, site: p.site, n: p.pickups }))))
          : Vigie.notice(shop.rings.length ? "js.rings.none_yet" : "js.rings.no_ring"));
      } catch (error) {
        replace(box, Vigie.notice(String(error.message).startsWith("409") ? "js.rings.no_consent" : "js.rings.unavailable"));
      }
    };
    const ring = el("input", { id: "ring-epc", maxlength: "200", required: "" });
    const link = async (e) => {
      e.preventDefault();
      try {
        await Vigie.send("POST", "sensors_ring_link", { ring: ring.value.trim() }, { contact_id: item.id });
        replace(status, t("js.rings.linked"));
        ring.value = "";
        load();
      } catch (error) {
        const refused = String(error.message).startsWith("consent.profiling");
        replace(status, el("span", { class: "error", role: "alert" },
          refused ? t("js.rings.no_consent") : t("js.rings.failed", { error: error.message })));
      }
    };
    load();
    return el("section", { class: "rings" },
      el("h4", {}, t("js.rings.title")), box,
      el("form", { id: "ring-link", class: "actions", onsubmit: link },
        el("label", { for: "ring-epc" }, t("js.rings.epc")), ring,
        el("button", { type: "submit" }, t("js.rings.link"))),
      status);
  }

  async function showTimeline(kind, item) {
    const container = document.getElementById("customer-timeline");
    const api = kind === "accounts" ? "account_timeline" : "contact_timeline";
    await Vigie.section(container, async () => {
      const timeline = await Vigie.get(api, { record_id: item.id }, { limit: 200 });
      if (timeline === null) return null;
      replace(container, el("h3", {}, nameOf(kind, item)), privacyActions(kind, item), ringsSection(kind, item),
        timeline.items.length ? el("ol", { class: "feed timeline" }, timeline.items.map(timelineItem)) : Vigie.notice("js.customers.empty"));
    });
    container.querySelector("h3")?.setAttribute("tabindex", "-1");
    container.querySelector("h3")?.focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("customer-search");
    const kind = document.getElementById("customer-kind");
    const query = document.getElementById("customer-query");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      search(kind.value, query.value.trim());
    });
    search(kind.value, "");
  });
})();
