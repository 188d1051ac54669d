// Site fixes that need JavaScript (see book/_ext/site_fixes.py for the others).
(() => {
  "use strict";

  // 1. Navigation buttons that work. sphinx-book-theme puts its own menu (.primary-toggle) and
  // page-contents (.secondary-toggle) buttons in the article header, but pydata-sphinx-theme and
  // sphinx-book-theme bind only document.querySelector(".primary-toggle"): the first in the page,
  // which sits in pydata's header (hidden by site.css). The visible buttons showed a tooltip and
  // did nothing. Each visible button now clicks the bound one, which opens the menu as a dialog on
  // a narrow screen and collapses the sidebar on a wide one.
  function bindToggles() {
    for (const name of ["primary-toggle", "secondary-toggle"]) {
      const bound = document.querySelector(`.${name}`);
      if (!bound) continue;
      document.querySelectorAll(`.${name}`).forEach((button) => {
        if (button === bound) return;
        // A tooltip is what a tap showed instead of the menu; the button's icon and label suffice.
        button.removeAttribute("data-bs-toggle");
        if (bound.getAttribute("aria-label")) button.setAttribute("aria-label", bound.getAttribute("aria-label"));
        const tooltip = window.bootstrap && window.bootstrap.Tooltip && window.bootstrap.Tooltip.getInstance(button);
        if (tooltip) tooltip.dispose();
        button.addEventListener("click", (event) => {
          event.preventDefault();
          event.stopPropagation();
          button.blur();
          bound.click();
        });
      });
    }
  }

  // 2. A visible cue on content that scrolls sideways (a wide equation, table or code line on a
  // phone): a shadow on the edge that has more to show. site.css draws it from these classes.
  const SLACK = 3;   // px: an italic letter's overhang is not content to scroll to
  const SCROLLERS = "div.math, .pst-scrollable-table-container, .table-wrapper, div.highlight > pre, .cell_output pre, .output pre, .sf-scroll, .bd-article mjx-container[display='true']";
  function markScrollers() {
    // Inline math cannot wrap: a formula wider than its line becomes its own scrolling box.
    // (Measured afresh each time: while MathJax typesets, a formula sits in a zero-width box.)
    document.querySelectorAll(".bd-article mjx-container:not([display='true'])").forEach((m) => {
      const column = m.closest("p, li, td, dd, h1, h2, h3, h4, h5, h6");
      if (!column || column.clientWidth < 100) return;
      m.classList.remove("sf-scroll");
      const r = m.getBoundingClientRect(), c = column.getBoundingClientRect();
      if (r.width > column.clientWidth || r.right > c.right + SLACK) m.classList.add("sf-scroll");
    });
    document.querySelectorAll(SCROLLERS).forEach((el) => {
      const overflows = el.scrollWidth > el.clientWidth + SLACK;
      el.classList.toggle("sf-overflows", overflows);
      el.classList.toggle("sf-scrolled", overflows && el.scrollLeft > 0);
      el.classList.toggle("sf-at-end", overflows && el.scrollLeft + el.clientWidth >= el.scrollWidth - SLACK);
      if (overflows && !el.dataset.sfWatched) {
        el.dataset.sfWatched = "1";
        el.addEventListener("scroll", markScrollers, { passive: true });
        if (!el.hasAttribute("tabindex")) el.tabIndex = 0;   // scrollable with the keyboard too
      }
    });
  }

  // 3. Search results without raw TeX. Sphinx's search shows, under each result, text taken from
  // the page's HTML, where a formula is still its TeX source ("\\(\\bar v = \\frac{...}\\)"):
  // MathJax only typesets it in the page itself. The snippet gets a plain-text reading instead.
  const SYMBOLS = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", eta: "η", theta: "θ",
    lambda: "λ", mu: "μ", nu: "ν", pi: "π", rho: "ρ", sigma: "σ", tau: "τ", phi: "φ", psi: "ψ", omega: "ω",
    Delta: "Δ", Sigma: "Σ", Omega: "Ω", partial: "∂", nabla: "∇", sum: "∑", prod: "∏", infty: "∞",
    cdot: "·", times: "×", top: "ᵀ", odot: "⊙", leftarrow: "←", to: "→", rightarrow: "→", mapsto: "↦",
    iff: "⟺", ne: "≠", neq: "≠", le: "≤", leq: "≤", ge: "≥", geq: "≥", approx: "≈", sim: "∼", in: "∈",
    lfloor: "⌊", rfloor: "⌋", lvert: "|", rvert: "|", "|": "‖", ldots: "…", dots: "…", cdots: "⋯", pm: "±",
  };
  function texToText(tex) {
    let t = tex.replace(/^\s*(\\\(|\\\[|\$\$?)|(\\\)|\\\]|\$\$?)\s*$/g, "");
    t = t.replace(/\\(?:begin|end)\{[^}]*\}/g, " ").replace(/\\\\(\[[^\]]*\])?|&/g, " ");
    for (let i = 0; i < 4; i++) {       // innermost first: \frac{\bar a}{b}
      t = t.replace(/\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, "($1)/($2)")
        .replace(/\\sqrt\s*\{([^{}]*)\}/g, "√($1)")
        .replace(/\\(?:bar|overline)\s*\{([^{}]*)\}/g, "$1\u0304").replace(/\\hat\s*\{([^{}]*)\}/g, "$1\u0302")
        .replace(/\\(?:mathrm|text|textrm|mathbf|mathit|operatorname|mathcal|boldsymbol)\s*\{([^{}]*)\}/g, "$1");
    }
    t = t.replace(/\\bar\s*(\w)/g, "$1\u0304").replace(/\\hat\s*(\w)/g, "$1\u0302");
    t = t.replace(/\\(?:left|right|big|Big|bigg|Bigg|textstyle|displaystyle|mathrel|limits)\b/g, "");
    t = t.replace(/\\(?:,|;|:|!|quad|qquad| )/g, " ");
    t = t.replace(/\\([A-Za-z]+|\|)/g, (m, name) => SYMBOLS[name] ?? name);
    return t.replace(/[{}]/g, "").replace(/\s+/g, " ").trim();
  }
  if (typeof Search !== "undefined" && Search.htmlToText) {
    const htmlToText = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => {
      const doc = new DOMParser().parseFromString(htmlString, "text/html");
      doc.querySelectorAll(".math").forEach((el) => { el.textContent = texToText(el.textContent); });
      return htmlToText(doc.documentElement.outerHTML, anchor);
    };
  }

  function ready() {
    bindToggles();
    markScrollers();
    window.addEventListener("resize", markScrollers);
    window.addEventListener("load", markScrollers);
    // Equations get their final width only once MathJax has typeset them.
    const waitForMathJax = (tries) => {
      if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
        window.MathJax.startup.promise.then(markScrollers);
      } else if (tries > 0) {
        setTimeout(() => waitForMathJax(tries - 1), 200);
      }
    };
    waitForMathJax(50);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
