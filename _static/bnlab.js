// The course's additions to the theme (added by _ext/bnlab_site.py).
//
// MathJax 3 does not break lines, so a formula wider than its column (a displayed equation on a
// phone, a long inline one) would be cut off or scroll. Each such formula is scaled down until it
// fits (in a table, until the table fits); it is redone when the window changes width.
(function () {
  "use strict";

  function fit(container) {
    container.style.fontSize = "";
    const display = container.getAttribute("display") === "true";
    const box = container.closest("div.math") || container.closest("p, li, td, th, dd, div");
    if (!box) return;
    const eqno = display ? box.querySelector(".eqno") : null;
    const gap = eqno ? eqno.getBoundingClientRect().width + 8 : 0;
    const available = box.clientWidth - gap;
    const needed = container.scrollWidth;
    if (needed > available && available > 0) {
      const size = parseFloat(getComputedStyle(container).fontSize);
      container.style.fontSize = `${Math.floor((size * available * 0.98) / needed * 10) / 10}px`;
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
      const goal = Math.max(width - (table.scrollWidth - column) - 2, width / 2);
      const size = parseFloat(getComputedStyle(widest).fontSize);
      widest.style.fontSize = `${Math.floor((size * goal) / width * 10) / 10}px`;
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
