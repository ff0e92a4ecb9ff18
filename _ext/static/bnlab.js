// The course's additions to the theme (added by _ext/bnlab_site.py).
//
// MathJax 3 does not break lines. A displayed formula wider than its column scrolls sideways in
// its own box (the theme's CSS); here that box gets a tab stop, so a keyboard can scroll it too.
// An inline formula or a table with formulas wider than its column is scaled down, but never
// below MIN_PX: past that it scrolls (tables) or wraps with the line. Redone when the width changes.
(function () {
  "use strict";

  const MIN_PX = 12;

  function scaled(element, factor) {
    const size = parseFloat(getComputedStyle(element).fontSize);
    const goal = Math.max(MIN_PX, Math.floor(size * factor * 10) / 10);
    if (goal < size) element.style.fontSize = `${goal}px`;
  }

  function fit(container) {
    container.style.fontSize = "";
    if (container.getAttribute("display") === "true") {
      if (container.scrollWidth > container.clientWidth + 1) {
        container.setAttribute("tabindex", "0");
      } else {
        container.removeAttribute("tabindex");
      }
      return;
    }
    const box = container.closest("p, li, td, th, dd, div");
    if (box && container.scrollWidth > box.clientWidth && box.clientWidth > 0) {
      scaled(container, (box.clientWidth * 0.98) / container.scrollWidth);
    }
  }

  // A table wider than its column: shrink its widest formula by the excess, a few times over.
  function fitTable(table) {
    const column = table.parentElement.clientWidth;
    for (let round = 0; round < 8 && table.scrollWidth > column + 1; round++) {
      const formulas = Array.from(table.querySelectorAll("mjx-container"));
      if (!formulas.length) return;
      const widest = formulas.reduce((a, b) => (b.scrollWidth > a.scrollWidth ? b : a));
      const width = widest.scrollWidth;
      const before = widest.style.fontSize;
      scaled(widest, Math.max(width - (table.scrollWidth - column) - 2, width / 2) / width);
      if (widest.style.fontSize === before) return;
    }
  }

  function fitAll() {
    document.querySelectorAll("mjx-container").forEach(fit);
    document.querySelectorAll(".bd-content table").forEach(fitTable);
  }

  function start() {
    if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
      setTimeout(start, 50);
      return;
    }
    MathJax.startup.promise.then(fitAll);
    let width = window.innerWidth;
    window.addEventListener("resize", () => {
      if (window.innerWidth !== width) {
        width = window.innerWidth;
        fitAll();
      }
    });
  }

  if (document.querySelector(".math")) start();
})();

// Search results: the snippet under each hit is text taken from the page's HTML, so it showed
// formulas as raw TeX and the answers folded in dropdowns. It is taken here from a copy of the
// page without those: a formula becomes its symbols (\mu -> μ), a dropdown goes.
(function () {
  "use strict";

  const SYMBOLS = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", eta: "η",
    theta: "θ", lambda: "λ", mu: "μ", nu: "ν", pi: "π", rho: "ρ", sigma: "σ", tau: "τ",
    phi: "φ", chi: "χ", psi: "ψ", omega: "ω", Sigma: "Σ", Delta: "Δ", partial: "∂",
    sum: "Σ", cdot: "·", times: "×", le: "≤", ge: "≥", approx: "≈", infty: "∞", sqrt: "√",
  };
  const HIDDEN = "details, .dropdown, .toggle-details, .toggle-hidden, .tag_hide-input, " +
    ".tag_remove-input, .headerlink, script, style";

  function plainFormula(tex) {
    return tex.trim().replace(/^\\[([]/, "").replace(/\\[)\]]$/, "")
      .replace(/\\([A-Za-z]+)/g, (all, name) => SYMBOLS[name] || "")
      .replace(/[{}^_$\\]/g, "").replace(/\s+/g, " ").trim();
  }

  function readable(htmlString) {
    const page = new DOMParser().parseFromString(htmlString, "text/html");
    page.querySelectorAll(HIDDEN).forEach((el) => el.remove());
    page.querySelectorAll(".math").forEach((el) => {
      el.textContent = plainFormula(el.textContent);
    });
    return page.documentElement.outerHTML;
  }

  // searchtools.js declares `const Search` (a global binding, not a property of window); it runs
  // before this deferred script, and the search itself after it (on DOMContentLoaded).
  if (typeof Search !== "undefined" && Search.htmlToText && !Search.bnlabReadable) {
    const original = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => original(readable(htmlString), anchor);
    Search.bnlabReadable = true;
  }
})();
