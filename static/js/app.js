// Small behaviours shared by every page; htmx does the rest.
document.addEventListener("click", (event) => {
  const toggle = event.target.closest(".menu-toggle");
  if (toggle) document.body.classList.toggle("nav-open");
});
