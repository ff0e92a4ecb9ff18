"""The built website in a real browser: headless Chromium (Debian's) driven by Selenium.

Every page of ``_build/html`` (built by ``make book`` when missing; ``BNLAB_SITE`` may point at
another build, such as the self-study edition) is served from 127.0.0.1 and opened once. The tests
then check what a reader would see: math typeset (no raw TeX), every image loaded and described
in words (not by a file name), no console error, no failed request, no request to another host, a
working search, launch buttons on executable pages that open files of the repository, a layout
that fits a phone, no table or formula wider than its column at desktop or phone width, long
plotting code folded away, a clean author-year bibliography, every exercise listed on the
Exercises page, and no solution in the student edition. A screenshot of every page, and
phone-width ones of chapters 5 and 8, are kept in ``_build/screenshots/`` for a person to look at.

Each page is also measured at both widths: axe-core (the accessibility engine, the copy that
selenium-axe-python ships) runs on it; every figure's displayed width and the smallest text it was
drawn with (which ``bnlab.style`` records in the PNG) give the text size a reader sees; code blocks
that scroll sideways are counted; displayed formulas scroll rather than shrink.
"""

import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from filelock import FileLock

from bnlab import quickcheck, style
from course import browser, exercise_pages, notebook_forms
from course.execute import execute_notebook

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("BNLAB_SITE", ROOT / "_build" / "html")).resolve()
SHOTS = SITE.parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]
DESKTOP = (1280, 900)
PHONE = (390, 844)
MAX_SHOT_HEIGHT = 12000
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}
PHONE_SHOTS = ("chapters/05_bn_backward.html", "chapters/08_experiments.html")
UNWRAPPABLE = re.compile(r"[\"'#]")  # a line with a string or a comment
MIN_MATH_PX = 12  # a formula wider than its column scrolls; it is never shrunk below this
# Moderate axe findings that stay, each with its reason (critical and serious ones must be 0).
KNOWN_MODERATE = {}
# Executable pages without launch buttons (they have no notebook form), each with its reason.
NOT_LAUNCHED = {
    "pages/learner_guide.html": "runs the learner's check on a half-done problem set to show its "
    "output; the page is read, not worked in",
}
LONG_CODE = 15  # lines: the code of a figure cell longer than this folds away (hide-input)
# An alt text that is one word (a file name, a path, a hash: what Sphinx and myst-nb write when
# none is given) or ends like a file name.
FILE_NAME_ALT = re.compile(r"^\S*$|\.(png|jpe?g|svg|gif|webp|pdf)$", re.I)
LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
AUTHOR_YEAR = re.compile(r"^\[[^\[\]0-9]+, (\d{4}|n\.d\.)[a-z]?\]$")
RAW_TEX = re.compile(
    r"\$\$|\\[()\[\]]|\\(?:frac|sum|mathbb|mathrm|hat|sqrt|partial|begin|end|left|right|"
    r"sigma|mu|gamma|beta|epsilon|cdot|operatorname|text)\b"
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def site():
    """The built book; ``make book`` builds it once if it is missing (one worker at a time)."""
    SITE.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(SITE.parent / ".browser-test.lock")):
        if not (SITE / "index.html").exists():
            log = SITE.parent / "book-build.log"
            with log.open("w") as out:
                proc = subprocess.run(
                    ["make", "book"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
                )
            assert proc.returncode == 0, (
                f"`make book` failed, see {log}:\n{log.read_text()[-3000:]}"
            )
    return SITE


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:  # pragma: no cover - selenium is pinned
        pytest.skip(f"selenium is not installed: {exc}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    profile = tempfile.TemporaryDirectory(prefix="bnlab-chromium-")
    options.add_argument(f"--user-data-dir={profile.name}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    try:
        browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    except Exception as exc:  # noqa: BLE001 - any failure to start means: no browser here
        profile.cleanup()
        pytest.skip(f"headless Chromium could not start ({CHROMIUM}, {CHROMEDRIVER}): {exc}")
    browser.set_page_load_timeout(60)
    browser.set_script_timeout(300)  # axe-core on the longest chapter, on a loaded machine
    yield browser
    browser.quit()
    profile.cleanup()


def is_redirect(path):
    return 'http-equiv="Refresh"' in path.read_text(errors="replace")[:2000]


def page_paths(site):
    """Every HTML page of the site (not redirects, nor copies under ``_static``/``_sources``)."""
    return sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if not p.relative_to(site).parts[0].startswith("_") and not is_redirect(p)
    )


INSPECT_PAGE = """
const article = document.querySelector("article") || document.body;
const clone = article.cloneNode(true);
clone.querySelectorAll("pre, code, script, style, mjx-container, .cell_output, .output")
  .forEach((el) => el.remove());
const edition = document.querySelector('meta[name="bnlab-edition"]');
return {
  edition: edition ? edition.content : null,
  prose: clone.textContent,
  all_text: document.body.textContent,
  visible_text: document.body.innerText,
  math_total: document.querySelectorAll(".math").length,
  math_untypeset: Array.from(document.querySelectorAll(".math"))
    .filter((el) => !el.querySelector("mjx-container")).map((el) => el.textContent.slice(0, 80)),
  math_errors: Array.from(document.querySelectorAll("mjx-merror"))
    .map((el) => el.getAttribute("data-mjx-error") || el.textContent),
  broken_images: Array.from(document.images)
    .filter((img) => !(img.complete && img.naturalWidth > 0)).map((img) => img.src),
  alt_texts: Array.from(article.querySelectorAll("img")).map((img) => [img.src, img.alt.trim()]),
  executable: document.querySelector("div.cell") !== null,
  launch_links: Array.from(document.querySelectorAll("a[href]")).map((a) => a.href)
    .filter((h) => /mybinder\\.org|colab\\.research\\.google\\.com|\\/hub\\/user-redirect/.test(h)),
  notebook_downloads: Array.from(document.querySelectorAll("a[href$='.ipynb']")).map((a) => a.href)
    .filter((h) => h.startsWith(location.origin)),
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  // a formula (displayed or inline) or a table wider than its column is cut off or scrolls
  // (an inline formula's scrollWidth counts the overhang of italic glyphs: compare boxes)
  // (a displayed formula wider than its column scrolls in its own box, which is fine)
  wide_math: Array.from(article.querySelectorAll("mjx-container"))
    .filter((m) => (m.getAttribute("display") === "true"
      ? m.getBoundingClientRect().width > m.parentElement.clientWidth + 2
        || (m.scrollWidth > m.clientWidth + 2 && !/auto|scroll/.test(getComputedStyle(m).overflowX))
      : m.getBoundingClientRect().width > m.parentElement.getBoundingClientRect().width + 2))
    .map((m) => m.textContent.slice(0, 60)),
  // (a table wider than its column scrolls in its own box, the theme's, which is fine)
  wide_tables: Array.from(article.querySelectorAll("table"))
    .filter((t) => !/auto|scroll/.test(getComputedStyle(t.parentElement).overflowX)
      && (t.scrollWidth > t.parentElement.clientWidth + 2
        || t.getBoundingClientRect().right > article.getBoundingClientRect().right + 2))
    .map((t) => `${t.scrollWidth} px in ${t.parentElement.clientWidth}: ` +
      t.textContent.trim().replace(/\\s+/g, " ").slice(0, 50)),
  cut_tables: Array.from(article.querySelectorAll("table"))
    .filter((t) => /auto|scroll/.test(getComputedStyle(t.parentElement).overflowX)
      && t.parentElement.getBoundingClientRect().right
        > article.getBoundingClientRect().right + 2)
    .map((t) => t.textContent.trim().replace(/\\s+/g, " ").slice(0, 50)),
  // a column squeezed to a few letters a line (a cell narrower than 3.5 em holding a word)
  squeezed_cells: Array.from(article.querySelectorAll("table th, table td"))
    .filter((c) => /[A-Za-z]{5,}/.test(c.textContent)
      && c.clientWidth < 3.5 * parseFloat(getComputedStyle(c).fontSize))
    .map((c) => c.textContent.trim().slice(0, 30)),
  long_figure_code: Array.from(article.querySelectorAll("div.cell"))
    .filter((c) => c.querySelector(".cell_output img"))
    .map((c) => c.querySelector(".cell_input pre"))
    .filter((pre) => pre && pre.offsetParent !== null
      && pre.innerText.trim().split("\\n").length > arguments[0])
    .map((pre) => pre.innerText.trim().slice(0, 60)),
  bibliography: Array.from(article.querySelectorAll(".citation-list > .citation"))
    .map((e) => [e.querySelector(".label").textContent.trim(), e.textContent.trim(), e.id]),
  citations: Array.from(article.querySelectorAll('a[href*="references.html#"]'))
    .map((a) => [a.textContent.trim(), a.href.split("#")[1]]),
  links: Array.from(article.querySelectorAll("a[href]")).map((a) => a.href.split("#")[0]),
};
"""


MEASURE_PAGE = """
const article = document.querySelector("article") || document.body;
const scrolls = (el) => el.scrollWidth > el.clientWidth + 1
  && getComputedStyle(el).overflowX !== "visible";
return {
  figures: Array.from(article.querySelectorAll("img")).filter((img) => img.offsetParent !== null)
    .map((img) => {
      const link = img.closest("a[href]");
      return {src: img.src, shown: img.getBoundingClientRect().width, natural: img.naturalWidth,
              full_size: link !== null && link.href === img.src};
    }),
  code_blocks: article.querySelectorAll(".cell_input pre").length,
  // code a formatter could have wrapped: the source of a cell (folded cells count when open)
  wide_code: Array.from(article.querySelectorAll(".cell_input pre"))
    .filter((pre) => pre.scrollWidth > pre.clientWidth + 1)
    .map((pre) => pre.textContent.split("\\n").filter((line) => line.length > 80)),
  // a printed output wider than its box must scroll inside it, not be cut off
  cut_outputs: Array.from(article.querySelectorAll(".cell_output pre"))
    .filter((pre) => pre.offsetParent !== null && pre.scrollWidth > pre.clientWidth + 1
      && !/auto|scroll/.test(getComputedStyle(pre).overflowX))
    .map((pre) => pre.textContent.trim().slice(0, 60)),
  scrolling_outputs: Array.from(article.querySelectorAll(".cell_output pre"))
    .filter((pre) => pre.scrollWidth > pre.clientWidth + 1).length,
  math_sizes: Array.from(article.querySelectorAll("mjx-container"))
    .filter((m) => m.offsetParent !== null)
    .map((m) => [parseFloat(getComputedStyle(m).fontSize), m.textContent.slice(0, 40)]),
};
"""

# Colour contrast takes most of axe's time on a long page (every highlighted token is checked);
# no colour depends on the window's width, so it is checked at desktop width only.
RUN_AXE = """
const done = arguments[arguments.length - 1];
const rules = arguments[0] ? {} : {"color-contrast": {enabled: false}};
axe.run(document, {resultTypes: ["violations"], rules: rules}).then(
  (r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, count: v.nodes.length,
    where: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}))),
  (e) => done([{id: "axe-error", impact: "critical", count: 1, where: [String(e)]}]));
"""


@functools.cache
def _axe_source():
    import selenium_axe_python

    return (Path(selenium_axe_python.__file__).parent / "axe-core" / "axe.min.js").read_text()


def _measure(driver):
    """Figures, code blocks and formulas as shown, and axe-core's violations, of the page."""
    report = driver.execute_script(MEASURE_PAGE)
    driver.execute_script(_axe_source())
    desktop = driver.execute_script("return window.innerWidth") >= DESKTOP[0] - 50
    report["axe"] = driver.execute_async_script(RUN_AXE, desktop)
    return report


def _screenshot(driver, path, width):
    """Whole page (up to MAX_SHOT_HEIGHT): resize the window to the page, then capture."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(height, 600), MAX_SHOT_HEIGHT))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))


def _network(driver, origin):
    """Requests of the last page from Chromium's performance log: (other hosts, failures)."""
    other, failed = [], []
    urls = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message["method"], message.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if urlparse(url).scheme in ("http", "https", "ws", "wss") and not url.startswith(
                origin
            ):
                other.append(url)
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            # A request the page made was logged as sent first; one that was not (no URL) is
            # Chromium's own, e.g. a lookup at the first navigation of a fresh browser.
            if params["requestId"] in urls:
                failed.append(f"{urls[params['requestId']]}: {params.get('errorText')}")
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            failed.append(f"{params['response']['url']}: HTTP {params['response']['status']}")
    return other, failed


def _visit(driver, url):
    """What the page shows, its console errors and requests, then the measures and axe-core (whose
    own requests are dropped: it refetches @import-ed stylesheets against the page's address, a
    404 the page itself never asks for)."""
    driver.get(url)
    state = driver.execute_async_script(browser.WAIT_FOR_PAGE)["mathjax"]
    report = driver.execute_script(INSPECT_PAGE, LONG_CODE)
    report["mathjax"] = state
    report["console"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    origin = "{0.scheme}://{0.netloc}".format(urlparse(url))
    report["other_hosts"], report["failed"] = _network(driver, origin)
    report.update(_measure(driver))
    driver.get_log("browser")
    driver.get_log("performance")
    return report


@pytest.fixture(scope="session")
def visits(site, server, driver):
    """Open every page once at desktop width (screenshot), then once at phone width."""
    with FileLock(str(SITE.parent / ".browser-test.lock")):
        return _visit_all(site, server, driver)


def _visit_all(site, server, driver):
    shutil.rmtree(SHOTS, ignore_errors=True)
    driver.get_log("browser")
    driver.get_log("performance")
    results = {}
    for page in page_paths(site):
        driver.set_window_size(*DESKTOP)
        report = _visit(driver, f"{server}/{page}")
        _screenshot(
            driver, SHOTS / (page.replace("/", "__").removesuffix(".html") + ".png"), DESKTOP[0]
        )
        results[page] = report
    for page in results:
        driver.set_window_size(*PHONE)
        phone = _visit(driver, f"{server}/{page}")
        results[page]["phone"] = phone
        results[page]["phone_overflow"] = phone["overflow"]
        results[page]["phone_wide_math"] = phone["wide_math"]
        results[page]["phone_wide_tables"] = phone["wide_tables"]
        results[page]["phone_console"] = phone["console"]
        if page in PHONE_SHOTS:
            _screenshot(driver, SHOTS / "phone__" / (page.replace("/", "__")[:-5] + ".png"), 390)
    driver.set_window_size(*DESKTOP)
    return results


def _at(report, width):
    return report if width == "desktop" else report["phone"]


def _offenders(visits, key):
    return {page: r[key] for page, r in visits.items() if r[key]}


class TestEveryPage:
    def test_site_has_the_pages(self, visits, site):
        assert "search.html" in visits
        assert is_redirect(site / "index.html") or "index.html" in visits
        assert any(p.startswith("chapters/") for p in visits), sorted(visits)

    def test_math_is_typeset(self, visits):
        pages_with_math = [p for p, r in visits.items() if r["math_total"]]
        assert pages_with_math, "no page has math: MathJax was never exercised"
        assert not {
            p: r["mathjax"] for p, r in visits.items() if r["mathjax"].startswith(("e", "M"))
        }
        assert not _offenders(visits, "math_untypeset")
        assert not _offenders(visits, "math_errors")

    def test_no_raw_tex_left(self, visits):
        raw = {p: RAW_TEX.findall(r["prose"])[:5] for p, r in visits.items()}
        assert not {p: found for p, found in raw.items() if found}

    def test_images_load(self, visits):
        assert not _offenders(visits, "broken_images")

    def test_images_have_alt_text_in_words(self, visits):
        # a screen reader reads the alt text; a file name or a hash tells it nothing
        bad = {
            page: [(src, alt) for src, alt in r["alt_texts"] if FILE_NAME_ALT.search(alt)]
            for page, r in visits.items()
        }
        assert not {page: found for page, found in bad.items() if found}
        figures = sum(len(r["alt_texts"]) for p, r in visits.items() if p.startswith("chapters/"))
        assert figures >= 9, "the chapters have almost no figures: was the book executed?"

    def test_no_console_errors(self, visits):
        assert not _offenders(visits, "console")
        assert not _offenders(visits, "phone_console")

    def test_no_failed_requests(self, visits):
        assert not _offenders(visits, "failed")

    def test_no_request_to_another_host(self, visits):
        assert not _offenders(visits, "other_hosts")

    @pytest.mark.parametrize("width", ["desktop", "phone"])
    def test_math_fits_the_column(self, visits, width):
        # a displayed or inline formula wider than its column is cut off or scrolls sideways
        assert not _offenders(visits, "wide_math" if width == "desktop" else "phone_wide_math")

    @pytest.mark.parametrize("width", ["desktop", "phone"])
    def test_tables_fit_the_column(self, visits, width):
        # a table fits its column, or scrolls in a box that does (never wider than the column)
        assert not _offenders(visits, "wide_tables" if width == "desktop" else "phone_wide_tables")
        cut = {p: _at(r, width)["cut_tables"] for p, r in visits.items()}
        assert not {p: found for p, found in cut.items() if found}

    def test_no_table_column_is_squeezed(self, visits):
        assert not _offenders(visits, "squeezed_cells")

    def test_long_plotting_code_folds_away(self, visits):
        # the prose and the figure stay in view; the code is a click away (tag hide-input)
        assert not _offenders(visits, "long_figure_code")

    def test_fits_a_phone(self, visits):
        assert not {p: r["phone_overflow"] for p, r in visits.items() if r["phone_overflow"] > 1}

    def test_screenshots_kept(self, visits):
        for page in visits:
            shot = SHOTS / (page.replace("/", "__").removesuffix(".html") + ".png")
            assert shot.stat().st_size > 1000, shot
        for page in PHONE_SHOTS:
            if page in visits:
                shot = SHOTS / "phone__" / (page.replace("/", "__")[:-5] + ".png")
                assert shot.stat().st_size > 1000, shot


def _violations(visits, width, impacts):
    found = {}
    for page, report in visits.items():
        bad = [v for v in _at(report, width)["axe"] if v["impact"] in impacts]
        if bad:
            found[page] = bad
    return found


class TestAccessibility:
    """axe-core on every page at both widths: no critical or serious violation, and no moderate
    one beyond those listed (with their reasons) in KNOWN_MODERATE."""

    @pytest.mark.parametrize("width", WIDTHS)
    def test_no_critical_or_serious_violation(self, visits, width):
        assert not _violations(visits, width, {"critical", "serious"})

    @pytest.mark.parametrize("width", WIDTHS)
    def test_moderate_violations_are_known(self, visits, width):
        found = _violations(visits, width, {"moderate"})
        unknown = {p: [v for v in bad if v["id"] not in KNOWN_MODERATE] for p, bad in found.items()}
        assert not {page: bad for page, bad in unknown.items() if bad}

    def test_axe_ran_on_every_page(self, visits):
        assert all("axe" in r and "axe" in r["phone"] for r in visits.values())
        assert not [p for p, r in visits.items() for v in r["axe"] if v["id"] == "axe-error"]


def _drawn_text_px(site, src):
    """The smallest text of the figure at `src`, in pixels of its image (None: not recorded)."""
    from PIL import Image

    path = site / urlparse(src).path.lstrip("/")
    with Image.open(path) as image:
        value = getattr(image, "text", {}).get(style.TEXT_KEY)
    return None if value is None else float(value)


def illegible_figures(site, visits, width, minimum=style.MIN_TEXT_PX):
    """``{page: [(figure, text px as shown)]}`` below `minimum` at `width`.

    On a laptop the text is drawn size times displayed / natural width; on a phone a figure may
    be smaller, but then it must link to its full-size image, whose text is the drawn size.
    """
    bad = {}
    for page, report in visits.items():
        for figure in _at(report, width)["figures"]:
            if not page.startswith("chapters/") or figure["natural"] == 0:
                continue
            drawn = _drawn_text_px(site, figure["src"])
            if drawn is None:
                bad.setdefault(page, []).append((figure["src"], "no text size recorded"))
                continue
            shown = drawn * min(1.0, figure["shown"] / figure["natural"])
            if width == "phone" and figure["full_size"]:
                shown = max(shown, drawn)
            if shown < minimum:
                bad.setdefault(page, []).append((figure["src"].rsplit("/", 1)[1], round(shown, 1)))
    return bad


class TestFigures:
    @pytest.mark.parametrize("width", WIDTHS)
    def test_every_figure_text_is_legible(self, site, visits, width):
        figures = sum(len(r["figures"]) for p, r in visits.items() if p.startswith("chapters/"))
        assert figures >= 9, "hardly any figure measured"
        assert not illegible_figures(site, visits, width)

    def test_the_check_fails_on_a_shrunken_figure(self, site, server, driver, visits):
        # the same measurement on a page where one figure is squeezed to a third of its width
        page = "chapters/05_bn_backward.html"
        driver.set_window_size(*DESKTOP)
        report = _visit(driver, f"{server}/{page}")
        driver.execute_script(
            "const img = document.querySelector('article .cell_output img');"
            "img.style.width = (img.getBoundingClientRect().width / 3) + 'px';"
        )
        report.update(driver.execute_script(MEASURE_PAGE))
        bad = illegible_figures(site, {page: report}, "desktop")
        assert len(bad.get(page, [])) == 1, bad


class TestCode:
    def test_code_fits_the_column(self, visits):
        # a formatter wraps the chapters' code at 80 columns (ruff's line length in lint)
        # (course.chapter_format, checked by make lint); what still scrolls sideways is a line
        # no formatter can wrap: a long string or comment
        chapters = {p: r for p, r in visits.items() if p.startswith("chapters/")}
        assert sum(r["code_blocks"] for r in chapters.values()) > 100
        wrappable = {
            page: [ln for block in r["wide_code"] for ln in block if not UNWRAPPABLE.search(ln)]
            for page, r in chapters.items()
        }
        assert not {page: lines for page, lines in wrappable.items() if lines}

    @pytest.mark.parametrize("width", WIDTHS)
    def test_outputs_scroll_in_their_box(self, visits, width):
        cut = {p: _at(r, width)["cut_outputs"] for p, r in visits.items()}
        assert not {p: found for p, found in cut.items() if found}

    @pytest.mark.parametrize("width", WIDTHS)
    def test_formulas_scroll_rather_than_shrink(self, visits, width):
        small = {
            page: [m for m in _at(r, width)["math_sizes"] if m[0] < MIN_MATH_PX][:3]
            for page, r in visits.items()
        }
        assert not {page: found for page, found in small.items() if found}


class TestBackMatter:
    def test_bibliography_is_author_year_and_clean(self, visits):
        entries = visits["pages/references.html"]["bibliography"]
        assert len(entries) >= 10, entries
        assert not [text for _, text, _ in entries if LATEX_COMMAND.search(text)]
        assert not [label for label, _, _ in entries if not AUTHOR_YEAR.match(label)]
        labels = [label for label, _, _ in entries]
        assert len(set(labels)) == len(labels), "two entries share a label"

    def test_citations_read_as_their_entries_labels(self, visits):
        # "He et al., 2016" in the text must say which of the two 2016 entries it means
        label = {
            anchor: text.strip("[]")
            for text, _, anchor in visits["pages/references.html"]["bibliography"]
        }
        cited = [
            (page, text, anchor)
            for page, r in visits.items()
            for text, anchor in r["citations"]
            if anchor in label
        ]
        assert len(cited) >= 20, "hardly any citation found"
        # parenthetical "(He et al., 2016a)" links the whole label; textual "He et al. (2016a)"
        # links its year, which must still be the label's, letter included
        assert not [
            (page, text, label[a])
            for page, text, a in cited
            if text not in (label[a], label[a].rsplit(", ", 1)[-1])
        ]
        assert any(text == label[a] for _, text, a in cited)
        assert any(text != label[a] for _, text, a in cited)

    def test_exercises_page_lists_every_exercise(self, visits, server):
        # the expectation comes from the release on disk, not from the generated pages
        release = ROOT / "exercises"
        expected = {
            f"exercise_pages/{nb.relative_to(release).with_suffix('.html').as_posix()}"
            for nb in release.rglob("*.ipynb")
            if ".ipynb_checkpoints" not in nb.parts
        }
        assert expected, "no exercise in exercises/"
        linked = {
            urlparse(href).path.lstrip("/")
            for href in visits["exercise_pages/index.html"]["links"]
            if href.startswith(server)
        }
        assert expected <= linked, sorted(expected - linked)


class TestLaunch:
    def test_executable_pages_have_launch_buttons(self, visits):
        executable = [p for p, r in visits.items() if r["executable"]]
        assert executable, "no executable page"
        # a page outside the chapters and exercises runs code only to show its output, and is
        # listed here with the reason (a new kind of executable page must be decided on)
        others = {p for p in executable if not p.startswith(("chapters/", "exercise_pages/"))}
        assert others == set(NOT_LAUNCHED), others
        executable = [p for p in executable if p not in NOT_LAUNCHED]
        missing = {}
        for page in executable:
            links = visits[page]["launch_links"]
            kinds = {
                k
                for k in ("mybinder.org", "colab.research.google.com")
                if any(k in u for u in links)
            }
            if kinds != {"mybinder.org", "colab.research.google.com"}:
                missing[page] = links
        assert not missing

    def test_launch_links_open_files_of_the_repository(self, visits):
        repo_url, branch = notebook_forms.read_repository(ROOT)
        org_repo = urlparse(repo_url).path.strip("/")
        bad = []
        for page, report in visits.items():
            for url in report["launch_links"]:
                parsed = urlparse(url)
                if "colab" in parsed.netloc:
                    prefix = f"/github/{org_repo}/blob/{branch}/"
                    assert parsed.path.startswith(prefix), url
                    path = parsed.path.removeprefix(prefix)
                else:
                    query = parse_qs(parsed.query)
                    assert f"/{org_repo}/{branch}" in parsed.path or query.get("branch") == [
                        branch
                    ], url
                    path = re.sub(r"^(lab/)?tree/", "", query["urlpath"][0])
                    path = path.removeprefix(f"{org_repo.split('/')[1]}/")
                if not path.endswith(".ipynb") or not (ROOT / path).is_file():
                    bad.append((page, url))
        assert not bad

    def test_notebook_download_offered(self, visits, site):
        for page, report in visits.items():
            if report["executable"]:
                assert report["notebook_downloads"], page
                for href in report["notebook_downloads"]:
                    assert (site / urlparse(href).path.lstrip("/")).is_file(), href


class TestSearch:
    def test_search_finds_a_chapter(self, site, server, driver):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        driver.get(f"{server}/search.html?q=variance")
        WebDriverWait(driver, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results ul.search li")
        )
        hrefs = [
            a.get_attribute("href")
            for a in driver.find_elements(By.CSS_SELECTOR, "#search-results ul.search li a")
        ]
        assert any("/chapters/" in h for h in hrefs), hrefs
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors

    def test_snippets_show_no_raw_tex_and_no_folded_answer(self, site, server, driver):
        # the snippet of a hit is text of the page: no TeX source, nothing from a dropdown
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        driver.get(f"{server}/search.html?q=variance")
        WebDriverWait(driver, 60).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#search-results p.context")) >= 5
        )
        snippets = [
            p.text for p in driver.find_elements(By.CSS_SELECTOR, "#search-results p.context")
        ]
        assert not [s for s in snippets if RAW_TEX.search(s)]
        assert not [s for s in snippets if "Answer" in s.split()[:3]]

    def test_one_search_box(self, server, driver):
        from selenium.webdriver.common.by import By

        for width in WIDTHS.values():
            driver.set_window_size(*width)
            driver.get(f"{server}/chapters/01_expectation_variance.html")
            shown = [
                b
                for b in driver.find_elements(By.CSS_SELECTOR, ".search-button__button")
                if b.is_displayed()
            ]
            assert len(shown) == 1, (width, [b.get_attribute("outerHTML")[:80] for b in shown])
        driver.set_window_size(*DESKTOP)


@pytest.fixture(scope="module")
def quiz_outputs(tmp_path_factory):
    """The HTML and script of chapter 3's self-check (math in its questions) as a kernel displays
    them: the course's (``html``, ``ours``) and jupyterquiz's own (``their_html``, ``theirs``)."""
    import nbformat

    folder = tmp_path_factory.mktemp("quiz")
    code = (
        "from IPython.utils.capture import capture_output\n"
        "from jupyterquiz import display_quiz\n"
        "from bnlab import quickcheck\n"
        "with capture_output() as ours:\n"
        "    quickcheck.show('03')\n"
        "with capture_output() as theirs:\n"
        "    display_quiz(quickcheck.questions('03'), shuffle_answers=False)\n"
        "for name, out in [('html', ours.outputs[0].data['text/html']),\n"
        "                  ('ours', ours.outputs[1].data['application/javascript']),\n"
        "                  ('their_html', theirs.outputs[0].data['text/html']),\n"
        "                  ('theirs', theirs.outputs[1].data['application/javascript'])]:\n"
        f"    open({str(folder)!r} + '/' + name, 'w').write(out)\n"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, folder / "quiz.ipynb")
    assert execute_notebook(folder / "quiz.ipynb") == []
    return {name: (folder / name).read_text() for name in ("html", "ours", "their_html", "theirs")}


class TestSelfChecks:
    """A chapter's quick self-check answers the reader: one wrong and one right answer each."""

    PAGE = "chapters/04_bn_forward.html"

    @staticmethod
    def _feedback(quiz):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        box = quiz.find_element(By.CSS_SELECTOR, ".Feedback")
        WebDriverWait(quiz.parent, 10).until(lambda d: box.is_displayed() and box.text.strip())
        return box.get_attribute("class").split(), box.text.strip()

    def test_answers_one_wrong_and_one_right(self, server, driver, visits):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        driver.set_window_size(*DESKTOP)
        driver.get(f"{server}/{self.PAGE}")
        driver.execute_async_script(browser.WAIT_FOR_PAGE)
        quizzes = driver.find_elements(By.CSS_SELECTOR, ".Quiz")
        questions = quickcheck.questions("04")
        assert len(quizzes) == len(questions)
        kinds = set()
        for quiz, question in zip(quizzes, questions, strict=True):
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", quiz)
            if question["type"] == "multiple_choice":
                labels = quiz.find_elements(By.CSS_SELECTOR, "label.MCButton")
                assert len(labels) == len(question["answers"])
                right = [a["correct"] for a in question["answers"]].index(True)
                attempts = [(labels[(right + 1) % len(labels)], False), (labels[right], True)]
                answer = lambda label: label.click()  # noqa: E731
            else:
                box = quiz.find_element(By.CSS_SELECTOR, "input.Input-text")
                value = question["answers"][0]["value"]
                attempts = [(str(value + 1), False), (str(value), True)]

                def answer(text, box=box):
                    box.click()
                    box.send_keys(text, Keys.ENTER)

            for attempt, correct in attempts:
                answer(attempt)
                classes, text = self._feedback(quiz)
                assert ("correct" in classes) is correct and ("incorrect" in classes) is not correct
                assert text.startswith("Right") is correct, text
            kinds.add(question["type"])
        assert kinds == {"multiple_choice", "numeric"}
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors

    @pytest.mark.parametrize("script", ["ours", "theirs"])
    def test_a_self_check_waits_for_a_slow_mathjax(
        self, site, server, driver, quiz_outputs, script
    ):
        # A slow page load: MathJax is only its configuration when the quiz's script runs, and
        # loads 1.5 s later. jupyterquiz's own script fails then (the check that this test can
        # fail); the course's runs once MathJax has started, and the quiz's math is typeset.
        from selenium.webdriver.support.ui import WebDriverWait

        quiz_html = quiz_outputs["html" if script == "ours" else "their_html"]
        page = f"""<!DOCTYPE html><html lang="en"><head><title>slow</title>
<link rel="icon" href="data:,">
<script>window.MathJax = {{"options": {{"processHtmlClass": "math|output_area"}}}}</script>
</head><body>{quiz_html}<script>{quiz_outputs[script]}</script>
<script>setTimeout(() => {{ const s = document.createElement("script");
  s.src = "/_static/mathjax/tex-chtml.js"; document.head.appendChild(s); }}, 1500);</script>
</body></html>"""
        probe = site / "_probe"
        probe.mkdir(exist_ok=True)
        (probe / f"slow-{script}.html").write_text(page)
        try:
            driver.get_log("browser")
            driver.get(f"{server}/_probe/slow-{script}.html")
            quizzes = "return document.querySelectorAll('.Quiz').length"
            WebDriverWait(driver, 30).until(lambda d: d.execute_script(quizzes))
            driver.execute_async_script("setTimeout(arguments[0], 5000)")
            typeset = "return document.querySelectorAll('.Quiz mjx-container').length"
            if script == "ours":
                WebDriverWait(driver, 30).until(lambda d: d.execute_script(typeset))
            errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            labelled = driver.execute_script(
                "const boxes = document.querySelectorAll('.Quiz input.Input-text');"
                "return boxes.length > 0 && Array.from(boxes).every((b) => b.labels.length);"
            )
        finally:
            shutil.rmtree(probe)
        if script == "theirs":
            assert errors, "jupyterquiz's own script no longer fails on a slow MathJax"
        else:
            assert not errors
            assert labelled, "the box for a number has no label (axe-core: label)"

    def test_every_chapter_has_its_self_check(self, visits, site):
        for page in (p for p in visits if p.startswith("chapters/")):
            text = (site / page).read_text()
            assert text.count("show_questions(") >= 1, page


def _forms(line):
    """A line as plain text, as HTML and as a JSON string (how it would sit in a file)."""
    return {line, html.escape(line), json.dumps(line)[1:-1]}


def public_by_design(secrets):
    """The secret lines that the book does not show anyway: a chapter, the package's source (which
    the chapters include) or a page may show a line that an exercise rebuilds. The release is not
    exempted: a line it shares with a solution is a leak."""
    public = [p.read_text() for p in sorted((ROOT / "chapters").glob("*.md"))]
    public += [p.read_text() for p in sorted((ROOT / "src").rglob("*.py"))]
    public += [p.read_text() for p in sorted((ROOT / "pages").glob("*.md"))]
    text = "\n".join(public)
    return sorted(line for line in secrets if line not in text)


class TestEdition:
    def test_every_page_names_one_edition(self, visits):
        editions = {r["edition"] for r in visits.values()}
        assert len(editions) == 1 and editions <= set(exercise_pages.EDITIONS), editions
        if "BNLAB_SITE" not in os.environ:
            assert editions == {"student"}, "`make book` must build the student edition"

    def test_student_edition_shows_no_solution(self, visits, site, secrets_of):
        if next(iter(visits.values()))["edition"] != "student":
            pytest.skip("this site is the self-study edition")
        # The instructor guide documents nbgrader's markers; no page may hold a solution line.
        lines = public_by_design(secrets_of(ROOT / "solutions"))
        markers = ["BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"]

        def needles(path):
            return lines if "instructor_guide" in str(path) else lines + markers

        leaks = {p: [s for s in needles(p) if s in r["all_text"]][:3] for p, r in visits.items()}
        assert not {p: s for p, s in leaks.items() if s}
        for path in site.rglob("*"):
            if path.suffix in (".html", ".ipynb", ".js", ".txt", ".md"):
                text = path.read_text(errors="replace")
                forms = set().union(*(_forms(s) for s in needles(path)))
                assert not [s for s in forms if s in text][:1], path

    def test_self_study_solutions_fold_away(self, visits, secrets_of):
        if next(iter(visits.values()))["edition"] != "self-study":
            pytest.skip("this site is the student edition")
        lines = public_by_design(secrets_of(ROOT / "solutions", kinds={"SOLUTION"}))
        present = [s for s in lines if any(s in r["all_text"] for r in visits.values())]
        assert present == lines, "the self-study edition lacks some solutions"
        shown = [s for s in lines if any(s in r["visible_text"] for r in visits.values())]
        assert not shown, "solutions must stay folded until the reader opens them"
