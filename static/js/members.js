// Member lists: "select all" for the checkboxes of a bulk-action form, and a confirmation before a bulk delete.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!box.matches("[data-select-all]")) return;
  const formId = box.getAttribute("data-select-all");
  document.querySelectorAll(`input[name="member_ids"][form="${formId}"]`).forEach((item) => {
    item.checked = box.checked;
  });
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  const action = form.querySelector('select[name="action"]');
  const button = form.querySelector("[data-confirm-delete]");
  if (action && button && action.value === "delete" && !window.confirm(button.getAttribute("data-confirm-delete"))) {
    event.preventDefault();
  }
});
