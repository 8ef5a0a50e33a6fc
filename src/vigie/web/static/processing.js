// The processors' shares on the Overview page: which worker runs each share now, and how
// many workers are alive.
"use strict";

(() => {
  const { t, el, replace, number } = Vigie;

  function item(share) {
    const label = t(share.movable ? "js.processing.projections" : "js.processing.rules");
    return el(
      "li",
      { "data-share": share.name },
      el("strong", {}, label),
      " ",
      el("span", { class: "muted" }, share.processors.join(", ")),
      el("div", { class: share.holder ? "" : "error" },
        share.holder ? t("js.processing.held", { holder: share.holder }) : t("js.processing.nobody")),
    );
  }

  async function load() {
    const section = document.getElementById("processing");
    if (!Vigie.has("processing")) return;
    section.hidden = false;
    const list = document.getElementById("processing-list");
    await Vigie.section(list, async () => {
      const data = await Vigie.get("processing");
      if (data === null) return null;
      document.getElementById("workers-count").textContent = number(data.workers.length);
      replace(list, data.shares.map(item));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    load();
    setInterval(load, 15000);
  });
})();
