"""What every script that drives Chromium over the built book waits for before it looks.

``WAIT_FOR_PAGE`` (for Selenium's ``execute_async_script``) resolves once every image of the page
has loaded or failed (lazy images are made eager) and MathJax has typeset the page, or at once
where the page has no formula. It returns ``{"mathjax": state, "errors": n, "broken": [src]}``:
the state is ``"typeset"``, ``"no math"``, ``"error ..."`` or ``"MathJax never started"`` (after
``MATHJAX_TIMEOUT_MS``, generous for a loaded machine); ``errors`` counts MathJax's error boxes,
``broken`` lists the images that did not load. Used by ``course.pdf`` before printing and by the
browser test (``tests/test_browser.py``) before measuring.
"""

MATHJAX_TIMEOUT_MS = 60_000

WAIT_FOR_PAGE = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach((img) => { img.loading = "eager"; });
const loaded = images.map((img) => img.complete ? Promise.resolve() :
  new Promise((resolve) => { img.onload = img.onerror = resolve; }));
const hasMath = document.querySelector(".math") !== null;
const started = Date.now();
const mathjax = new Promise((resolve) => {
  if (!hasMath) { resolve("no math"); return; }
  (function poll() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(() => resolve("typeset"), (e) => resolve("error " + e));
    } else if (Date.now() - started > MATHJAX_TIMEOUT_MS) {
      resolve("MathJax never started");
    } else { setTimeout(poll, 50); }
  })();
});
Promise.all([mathjax, Promise.all(loaded)]).then(([m]) => done({
  mathjax: m,
  errors: document.querySelectorAll("mjx-merror").length,
  broken: images.filter((img) => !(img.complete && img.naturalWidth > 0)).map((i) => i.src),
}));
""".replace("MATHJAX_TIMEOUT_MS", str(MATHJAX_TIMEOUT_MS))
