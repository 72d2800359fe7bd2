// Progressive enhancement only: every page works without this file.
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el.matches("[data-autosubmit]")) el.form.requestSubmit();
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// The phone menu: the button opens and closes the main navigation (on wide screens the button is
// hidden and the navigation always shown, by CSS). Escape closes it and gives focus back.
(function () {
  const toggle = document.querySelector("[data-nav-toggle]");
  const bar = document.querySelector("[data-topbar]");
  if (!toggle || !bar) return;
  function setOpen(open) {
    bar.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }
  toggle.addEventListener("click", () => setOpen(toggle.getAttribute("aria-expanded") !== "true"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && bar.classList.contains("open")) {
      setOpen(false);
      toggle.focus();
    }
  });
})();

// Sub-navigation tabs scroll sideways on a phone: bring the current one into view.
(function () {
  document.querySelectorAll(".subnav").forEach((strip) => {
    const current = strip.querySelector('[aria-current="page"]');
    if (!current || strip.scrollWidth <= strip.clientWidth) return;
    strip.scrollLeft = current.offsetLeft - (strip.clientWidth - current.offsetWidth) / 2;
  });
})();
