// Inbox live updates by polling (no inline scripts: CSP script-src 'self').
// The list re-renders when the inbox's version changes (and the navigation's unread badge follows);
// a thread appends messages newer than the last one and refreshes the status badge of replies still on
// their way (queued → sent → delivered or failed).
(function () {
  const EVERY_MS = 5000;

  function poll(fn) {
    let busy = false;
    setInterval(async () => {
      if (busy || document.hidden) return;
      busy = true;
      try { await fn(); } catch (e) { /* offline for a moment: try again next tick */ }
      busy = false;
    }, EVERY_MS);
  }

  function setNavBadge(count) {
    if (typeof count !== "number") return;
    document.querySelectorAll("[data-nav-unread]").forEach((badge) => {
      badge.textContent = String(count);
      badge.hidden = !count;
      badge.setAttribute("aria-label", count + " unread conversation" + (count === 1 ? "" : "s"));
    });
  }

  const list = document.getElementById("inbox-list");
  if (list) {
    poll(async () => {
      const answer = await fetch(list.dataset.pollUrl, { credentials: "same-origin" });
      if (!answer.ok) return;
      const state = await answer.json();
      setNavBadge(state.unread_conversations);
      if (state.version === list.dataset.version) return;
      const page = await fetch(list.dataset.listUrl, { credentials: "same-origin" });
      if (!page.ok) return;
      list.innerHTML = await page.text();
      list.dataset.version = state.version;
      const badge = document.querySelector("[data-unread-total]");
      if (badge) badge.textContent = state.unread_total + " unread";
    });
  }

  const thread = document.getElementById("thread");
  if (thread) {
    poll(async () => {
      const pending = Array.from(thread.querySelectorAll("[data-reply-status][data-pending]"))
        .map((el) => el.dataset.replyStatus);
      let url = thread.dataset.updatesUrl + "?after=" + encodeURIComponent(thread.dataset.lastId || "0");
      if (pending.length) url += "&pending=" + pending.join(",");
      const answer = await fetch(url, { credentials: "same-origin" });
      if (!answer.ok) return;
      const update = await answer.json();
      Object.entries(update.statuses || {}).forEach(([id, html]) => {
        const badge = thread.querySelector('[data-reply-status="' + id + '"]');
        if (badge) badge.outerHTML = html.trim();
      });
      if (update.html && update.html.trim()) {
        thread.insertAdjacentHTML("beforeend", update.html);
        thread.lastElementChild.scrollIntoView({ block: "nearest", behavior: "smooth" });
      }
      thread.dataset.lastId = String(update.last_id);
    });
  }

  document.addEventListener("change", (event) => {
    const picker = event.target;
    if (!picker.matches("[data-canned-target]") || !picker.value) return;
    const target = document.getElementById(picker.dataset.cannedTarget);
    if (target) target.value = picker.value;
    picker.value = "";
  });
})();
