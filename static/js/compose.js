// Compose page: live preview (a debounced POST to /api/v1/messages/preview with the session and CSRF
// token), merge-field buttons, template picker, member search, the smart-quote fix and the send /
// schedule controls. The server stays the one source of truth for segments and replacements; the
// page works without this file (every button also submits the form).
(() => {
  const form = document.getElementById("compose-form");
  if (!form) return;
  const body = form.querySelector("[data-compose-body]");
  const csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const preview = document.getElementById("compose-preview");
  const fixButton = preview.querySelector("[data-fix-smart]");
  let lastPreview = null;
  let lastBody = null;
  let previewTimer = null;
  let previewRequest = null;

  const debounce = (fn, ms) => {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  };

  function checkedIds(name) {
    return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((el) => Number(el.value));
  }

  function audience() {
    const kind = form.querySelector("input[name=audience_kind]:checked");
    if (!kind || kind.value === "all") return { all: true };
    const chosen = {};
    for (const key of ["branch_ids", "group_ids", "member_ids"]) {
      const ids = checkedIds(key);
      if (ids.length) chosen[key] = ids;
    }
    return Object.keys(chosen).length ? chosen : null;
  }

  function show(name, value) {
    const el = preview.querySelector(`[data-preview="${name}"]`);
    if (el) el.textContent = value === null || value === undefined ? "—" : String(value);
  }

  function describeChar(char) {
    // Invisible characters (no-break or zero-width spaces) are shown by their code point.
    if (/^[\s\u200b-\u200d\u2060\ufeff\u00ad]$/u.test(char)) {
      return `U+${char.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
    }
    return char;
  }

  const memberSelect = preview.querySelector("[data-preview-member]");

  function renderSample(data) {
    const box = preview.querySelector("[data-preview-sample]");
    box.hidden = !data.sample;
    preview.querySelector("[data-preview-no-sample]").hidden = Boolean(data.sample);
    if (!data.sample) return;
    memberSelect.replaceChildren(
      ...data.sample_choices.map((choice) => {
        const option = document.createElement("option");
        option.value = String(choice.id);
        option.textContent = choice.name;
        option.selected = choice.id === data.sample.member_id;
        return option;
      }),
    );
    show("sample_text", data.sample.text);
    const unit = data.sample.segments === 1 ? "segment" : "segments";
    show("sample_counts", `${data.sample.characters} characters · ${data.sample.segments} ${unit} (${data.sample.encoding})`);
  }

  function renderCost(data) {
    const cost = preview.querySelector('[data-preview="cost"]');
    cost.hidden = !data.cost;
    if (data.cost) {
      cost.textContent = data.cost.text;
      cost.classList.toggle("errorlist", !data.cost.allowed);
    }
    preview.querySelector('[data-preview="approval"]').hidden = !data.needs_approval;
  }

  function render(data) {
    lastPreview = data;
    renderSample(data);
    renderCost(data);
    show("recipients", data.recipients);
    show("encoding", data.encoding);
    show("characters", data.characters);
    show("segments", data.segments);
    show("total_segments", data.total_segments);
    const chars = preview.querySelector('[data-preview="non_gsm_chars"]');
    chars.replaceChildren(
      ...data.non_gsm_chars.flatMap((char) => {
        const code = document.createElement("code");
        code.textContent = describeChar(char);
        return [code, document.createTextNode(" ")];
      }),
    );
    preview.querySelector('[data-preview="non_gsm"]').hidden = data.non_gsm_chars.length === 0;
    fixButton.hidden = data.replaceable_chars.length === 0;
    const problems = preview.querySelector('[data-preview="problems"]');
    problems.replaceChildren(
      // Nothing typed yet is not a problem worth shouting about.
      ...Object.entries(data.problems)
        .filter(([field]) => field !== "body" || body.value.trim())
        .map(([, text]) => {
          const li = document.createElement("li");
          li.textContent = text;
          return li;
        }),
    );
  }

  async function refreshPreview() {
    if (previewRequest) previewRequest.abort();
    previewRequest = new AbortController();
    const sentBody = body.value;
    const payload = { body: sentBody };
    const chosen = audience();
    if (chosen) payload.audience = chosen;
    if (memberSelect.value) payload.preview_member_id = Number(memberSelect.value);
    try {
      const response = await fetch(form.dataset.previewUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken },
        body: JSON.stringify(payload),
        signal: previewRequest.signal,
      });
      if (!response.ok) return;
      lastBody = sentBody;
      render(await response.json());
    } catch (error) {
      if (error.name !== "AbortError") console.warn("Preview unavailable", error);
    }
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, 300);
  }

  memberSelect.addEventListener("change", schedulePreview);

  // Merge fields: insert at the cursor.
  const mergeButtons = form.querySelector("[data-merge-buttons]");
  mergeButtons.hidden = false;
  mergeButtons.addEventListener("click", (event) => {
    const button = event.target.closest("[data-merge]");
    if (!button) return;
    body.setRangeText(button.dataset.merge, body.selectionStart, body.selectionEnd, "end");
    body.focus();
    schedulePreview();
  });
  body.addEventListener("input", schedulePreview);

  // The fix: use the server's replacement when the preview matches what is typed; otherwise the
  // button submits the form and the server replaces.
  fixButton.addEventListener("click", (event) => {
    if (!lastPreview || lastBody !== body.value) return;
    event.preventDefault();
    body.value = lastPreview.fixed_body;
    body.focus();
    refreshPreview();
  });

  // Template picker.
  const picker = document.querySelector("[data-template-picker]");
  if (picker) {
    const select = picker.querySelector("select");
    const useTemplate = (event) => {
      if (event) event.preventDefault();
      const option = select.selectedOptions[0];
      if (!option || !option.value) return;
      const text = option.dataset.body;
      if (body.value.trim() && body.value !== text && !window.confirm("Replace what you have written with this template?")) {
        return;
      }
      body.value = text;
      body.focus();
      refreshPreview();
    };
    picker.addEventListener("submit", useTemplate);
    select.addEventListener("change", () => useTemplate());
  }

  // Audience: show the pickers only when needed; picking anything means "chosen people".
  const someSection = form.querySelector("[data-audience-some]");
  const audienceRadios = form.querySelectorAll("input[name=audience_kind]");
  const chooseSome = () => {
    const some = form.querySelector('input[name=audience_kind][value="some"]');
    if (some) some.checked = true;
  };
  const syncAudience = () => {
    const all = form.querySelector('input[name=audience_kind][value="all"]');
    someSection.hidden = Boolean(all && all.checked);
  };
  audienceRadios.forEach((radio) =>
    radio.addEventListener("change", () => {
      syncAudience();
      schedulePreview();
    }),
  );
  someSection.addEventListener("change", (event) => {
    if (!event.target.matches("input[type=checkbox]")) return;
    chooseSome();
    const found = event.target.closest("[data-found-members] li");
    if (found && event.target.checked) form.querySelector("[data-picked-members]").append(found);
    schedulePreview();
  });
  syncAudience();

  // Member search, live.
  const search = form.querySelector("[data-member-search]");
  const results = form.querySelector("[data-found-members]");
  const runSearch = async () => {
    const q = search.value.trim();
    if (!q) {
      results.replaceChildren();
      return;
    }
    const url = `${form.dataset.memberSearchUrl}?${new URLSearchParams({ q })}`;
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok || search.value.trim() !== q) return;
    const picked = new Set(checkedIds("member_ids"));
    const rows = (await response.json()).results.filter((member) => !picked.has(member.id));
    if (!rows.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = `Nobody matches “${q}”.`;
      results.replaceChildren(li);
      return;
    }
    results.replaceChildren(
      ...rows.map((member) => {
        const li = document.createElement("li");
        const label = document.createElement("label");
        label.className = "choice";
        const box = document.createElement("input");
        box.type = "checkbox";
        box.name = "member_ids";
        box.value = member.id;
        label.append(box, ` ${member.name}`);
        if (!member.subscribed) {
          const badge = document.createElement("span");
          badge.className = "badge badge-warn";
          badge.textContent = "not subscribed";
          label.append(" ", badge);
        }
        li.append(label);
        return li;
      }),
    );
  };
  search.addEventListener("input", debounce(runSearch, 250));
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      runSearch();
    }
  });

  // Send now or later.
  const later = form.querySelector("[data-when-later]");
  const sendButton = form.querySelector("[data-send-button]");
  const syncWhen = () => {
    const isLater = Boolean(form.querySelector('input[name=when][value="later"]:checked'));
    later.hidden = !isLater;
    sendButton.textContent = isLater ? sendButton.dataset.sendLabelLater : sendButton.dataset.sendLabelNow;
  };
  form.querySelectorAll("input[name=when]").forEach((radio) => radio.addEventListener("change", syncWhen));
  syncWhen();

  refreshPreview();
})();
