// Import progress: poll the job's status endpoint and update the bar and counts; reload when it ends.
(() => {
  const box = document.querySelector("[data-import-status-url]");
  if (!box) return;
  const url = box.getAttribute("data-import-status-url");
  const format = (n) => Number(n).toLocaleString();
  const update = (status) => {
    box.querySelectorAll("[data-import]").forEach((el) => {
      const key = el.getAttribute("data-import");
      if (!(key in status)) return;
      if (el.tagName === "PROGRESS") el.value = status[key];
      else el.textContent = typeof status[key] === "number" ? format(status[key]) : status[key];
    });
  };
  const poll = async () => {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const status = await response.json();
        update(status);
        if (status.finished) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // A dropped connection: keep trying.
    }
    window.setTimeout(poll, 1000);
  };
  window.setTimeout(poll, 500);
})();
