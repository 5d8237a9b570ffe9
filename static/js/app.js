// Small behaviours shared by every page; htmx does the rest.
document.addEventListener("click", (event) => {
  const toggle = event.target.closest(".menu-toggle");
  if (toggle) document.body.classList.toggle("nav-open");
});

// --- Billing screens and pay page ---------------------------------------------------------------------------
// htmx swaps only 2xx answers by default; our fragments answer 409 (an illegal move) and 422 (a form with errors)
// with the fragment that says why, so swap those too.
if (window.htmx) {
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "409|422", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
    { code: "...", swap: false },
  ];
}

// Copy buttons: data-copy="text", or data-copy-from="#id" (an input's value or an element's text).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy], [data-copy-from]");
  if (!button) return;
  const source = button.dataset.copyFrom ? document.querySelector(button.dataset.copyFrom) : null;
  const text = (button.dataset.copy ?? (source ? source.value ?? source.textContent : "")).trim();
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    // No clipboard access (an old browser, an insecure origin): select it so the user can copy by hand.
    if (source && source.select) source.select();
    else if (source) window.getSelection().selectAllChildren(source);
    button.textContent = "Select + copy";
  }
  setTimeout(() => { button.textContent = label; }, 1600);
});

// Plain forms that destroy something ask first (htmx buttons use hx-confirm).
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
