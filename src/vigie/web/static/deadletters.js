// Events set aside by a processor (dead letters): how many are open, and each one's
// processor, offset, tries and error, on the Overview page.
"use strict";

(() => {
  const { t, el, replace, number, dateTime } = Vigie;

  function item(letter) {
    return el(
      "li",
      { "data-dead-letter": letter.id },
      el("strong", {}, t("js.dead.item", { processor: letter.processor, offset: letter.offset, attempts: letter.attempts })),
      " ",
      el("time", { datetime: letter.failed_at }, dateTime(letter.failed_at)),
      letter.message_id ? el("span", { class: "muted" }, ` · ${t("js.dead.event", { id: letter.message_id })}`) : null,
      el("div", { class: "error" }, letter.error),
    );
  }

  async function load() {
    const section = document.getElementById("dead-letters");
    if (!Vigie.has("dead_letters")) return;
    section.hidden = false;
    const list = document.getElementById("dead-list");
    await Vigie.section(list, async () => {
      const data = await Vigie.get("dead_letters", null, { status: "open", limit: 50 });
      if (data === null) return null;
      const open = Object.values(data.open).reduce((a, b) => a + b, 0);
      document.getElementById("dead-count").textContent = number(open);
      if (!data.dead_letters.length) return replace(list, el("li", { class: "muted" }, t("js.dead.none")));
      replace(list, data.dead_letters.map(item));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    load();
    Vigie.follow("alerts_stream", Vigie.throttle(load, 1000));
    setInterval(load, 15000);
  });
})();
