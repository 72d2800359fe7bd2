// Recurring form: show only the fields of the chosen frequency, monthly mode and end (the page renders
// the same choice without JavaScript, and a <noscript> style shows every field then).
(() => {
  const schedule = document.querySelector("[data-schedule]");
  if (!schedule) return;
  const chosen = (name, fallback) => {
    const input = schedule.querySelector(`input[name="${name}"]:checked`);
    return input ? input.value : fallback;
  };

  function sync() {
    const frequency = chosen("frequency", "weekly");
    const monthly = chosen("monthly_mode", "day");
    const ends = chosen("ends", "never");
    for (const el of schedule.querySelectorAll("[data-frequency-show]")) {
      el.hidden = !el.dataset.frequencyShow.split(" ").includes(frequency);
    }
    for (const el of schedule.querySelectorAll("[data-monthly-show]")) el.hidden = el.dataset.monthlyShow !== monthly;
    for (const el of schedule.querySelectorAll("[data-ends-show]")) el.hidden = el.dataset.endsShow !== ends;
    const unit = schedule.querySelector("[data-interval-unit]");
    const label = unit && unit.dataset[`unit${frequency.charAt(0).toUpperCase()}${frequency.slice(1)}`];
    if (label) unit.textContent = label;
  }

  schedule.addEventListener("change", (event) => {
    if (["frequency", "monthly_mode", "ends"].includes(event.target.name)) sync();
  });
  sync();
})();
