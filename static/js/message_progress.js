// Message detail: keeps the counts, progress bar, status and buttons current by polling the
// message's progress JSON every two seconds until it finishes (slower while scheduled or hidden).
(() => {
  const section = document.querySelector("[data-progress]");
  if (!section || section.dataset.finished === "true") return;
  const url = section.dataset.progressUrl;
  const bar = section.querySelector("[data-progress-bar]");

  function update(data) {
    for (const [key, value] of Object.entries(data.counts)) {
      document.querySelectorAll(`[data-count="${key}"]`).forEach((el) => {
        el.textContent = value;
      });
    }
    for (const [key, value] of Object.entries(data.widths)) {
      const segment = bar.querySelector(`[data-width="${key}"]`);
      if (segment) segment.style.width = `${value}%`;
    }
    bar.setAttribute("aria-valuenow", data.percent_done);
    section.querySelector("[data-progress-percent]").textContent = `${data.percent_done}%`;
    const badge = document.querySelector("[data-message-status]");
    if (badge) {
      badge.textContent = data.status_label;
      badge.className = `badge ${data.badge}`;
    }
    const detail = document.querySelector("[data-progress-detail]");
    if (detail) detail.textContent = data.status_detail;
    document.querySelectorAll("[data-show-when]").forEach((el) => {
      el.hidden = !data[el.dataset.showWhen];
    });
  }

  function next(data) {
    if (data && data.is_finished) return;
    let delay = data && data.status === "scheduled" ? 15000 : 2000;
    if (document.hidden) delay = Math.max(delay, 10000);
    setTimeout(poll, delay);
  }

  async function poll() {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) {
        setTimeout(poll, 10000);
        return;
      }
      const data = await response.json();
      update(data);
      next(data);
    } catch {
      setTimeout(poll, 5000);
    }
  }

  next(null);
})();
