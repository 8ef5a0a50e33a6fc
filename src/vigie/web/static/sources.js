// The business sources (inbound webhooks) on the Overview page: each one's URL, its
// deliveries since the server started by outcome, the last one and the last refusal.
"use strict";

(() => {
  const { t, el, replace, number, dateTime } = Vigie;

  function item(source) {
    const counts = source.deliveries;
    return el(
      "li",
      { "data-source": source.name },
      el("strong", {}, `${source.name} (${source.kind})`),
      " ",
      el("code", {}, source.path),
      el(
        "div",
        {},
        t("js.sources.deliveries", {
          accepted: number(counts.accepted),
          duplicate: number(counts.duplicate),
          refused: number(counts.refused),
          invalid: number(counts.invalid),
        }),
      ),
      el(
        "div",
        { class: "muted" },
        source.last_delivery_at ? t("js.sources.last", { at: dateTime(source.last_delivery_at) }) : t("js.sources.never"),
      ),
      source.last_rejection
        ? el("div", { class: "error" }, t("js.sources.rejection", { at: dateTime(source.last_rejection_at), reason: source.last_rejection }))
        : null,
    );
  }

  async function load() {
    if (!Vigie.has("sources")) return;
    document.getElementById("sources").hidden = false;
    const list = document.getElementById("sources-list");
    await Vigie.section(list, async () => {
      const data = await Vigie.get("sources");
      if (data === null) return null;
      if (!data.sources.length) return replace(list, el("li", { class: "muted" }, t("js.sources.none")));
      replace(list, data.sources.map(item));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    load();
    setInterval(load, 15000);
  });
})();
