"""The built website in a real browser: headless Chromium (Debian's) driven by Selenium.

Every page of ``_build/html`` (built by ``make book`` when missing; ``BNLAB_SITE`` may point at
another build, such as the self-study edition) is served from 127.0.0.1 and opened once. The tests
then check what a reader would see: math typeset (no raw TeX), every image loaded and described
in words (not by a file name), no console error, no failed request, no request to another host, a
working search, launch buttons on executable pages that open files of the repository, a layout
that fits a phone, no table or formula wider than its column at desktop or phone width, long
plotting code folded away, a clean author-year bibliography, every exercise listed on the
Exercises page, and no solution in the student edition. A screenshot of every page, and a
phone-width one, is kept in ``_build/screenshots/`` for a person to look at.
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

from course import notebooks as cn

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
    browser.set_script_timeout(60)
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


WAIT_FOR_PAGE = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach((img) => { img.loading = "eager"; });
const loaded = images.map((img) => img.complete ? Promise.resolve() :
  new Promise((resolve) => { img.onload = img.onerror = resolve; }));
const hasMath = document.querySelector(".math") !== null;
const mathjax = new Promise((resolve) => {
  if (!hasMath) { resolve("no math"); return; }
  const started = Date.now();
  (function poll() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(() => resolve("typeset"), (e) => resolve("error " + e));
    } else if (Date.now() - started > 20000) {
      resolve("MathJax never started");
    } else { setTimeout(poll, 50); }
  })();
});
Promise.all([mathjax, Promise.all(loaded)]).then(([m]) => done(m));
"""

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
  wide_math: Array.from(article.querySelectorAll("mjx-container"))
    .filter((m) => (m.getAttribute("display") === "true"
      ? m.scrollWidth > m.parentElement.clientWidth + 2
      : m.getBoundingClientRect().width > m.parentElement.getBoundingClientRect().width + 2))
    .map((m) => m.textContent.slice(0, 60)),
  wide_tables: Array.from(article.querySelectorAll("table"))
    .filter((t) => t.scrollWidth > t.parentElement.clientWidth + 2
      || t.getBoundingClientRect().right > article.getBoundingClientRect().right + 2)
    .map((t) => `${t.scrollWidth} px in ${t.parentElement.clientWidth}: ` +
      t.textContent.trim().replace(/\\s+/g, " ").slice(0, 50)),
  long_figure_code: Array.from(article.querySelectorAll("div.cell"))
    .filter((c) => c.querySelector(".cell_output img"))
    .map((c) => c.querySelector(".cell_input pre"))
    .filter((pre) => pre && pre.offsetParent !== null
      && pre.innerText.trim().split("\\n").length > arguments[0])
    .map((pre) => pre.innerText.trim().slice(0, 60)),
  bibliography: Array.from(article.querySelectorAll('[role="doc-biblioentry"]'))
    .map((e) => [e.querySelector(".label").textContent.trim(), e.textContent.trim(), e.id]),
  citations: Array.from(article.querySelectorAll('a[href*="references.html#"]'))
    .map((a) => [a.textContent.trim(), a.href.split("#")[1]]),
  links: Array.from(article.querySelectorAll("a[href]")).map((a) => a.href.split("#")[0]),
};
"""


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
    driver.get(url)
    state = driver.execute_async_script(WAIT_FOR_PAGE)
    report = driver.execute_script(INSPECT_PAGE, LONG_CODE)
    report["mathjax"] = state
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
        report["console"] = [
            e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
        ]
        report["other_hosts"], report["failed"] = _network(driver, server)
        _screenshot(
            driver, SHOTS / (page.replace("/", "__").removesuffix(".html") + ".png"), DESKTOP[0]
        )
        results[page] = report
    driver.set_window_size(*PHONE)
    for page in results:
        phone = _visit(driver, f"{server}/{page}")
        results[page]["phone_overflow"] = phone["overflow"]
        results[page]["phone_wide_math"] = phone["wide_math"]
        results[page]["phone_wide_tables"] = phone["wide_tables"]
        driver.get_log("browser")
        driver.get_log("performance")
    chapter = next((p for p in results if p.startswith("chapters/")), "index.html")
    _visit(driver, f"{server}/{chapter}")
    _screenshot(driver, SHOTS / "phone__" / (chapter.replace("/", "__")[:-5] + ".png"), PHONE[0])
    driver.set_window_size(*DESKTOP)
    return results


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
        assert not _offenders(visits, "wide_tables" if width == "desktop" else "phone_wide_tables")

    def test_long_plotting_code_folds_away(self, visits):
        # the prose and the figure stay in view; the code is a click away (tag hide-input)
        assert not _offenders(visits, "long_figure_code")

    def test_fits_a_phone(self, visits):
        assert not {p: r["phone_overflow"] for p, r in visits.items() if r["phone_overflow"] > 1}

    def test_screenshots_kept(self, visits):
        for page in visits:
            shot = SHOTS / (page.replace("/", "__").removesuffix(".html") + ".png")
            assert shot.stat().st_size > 1000, shot
        assert list((SHOTS / "phone__").glob("*.png"))


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
        assert not [(page, text, label[a]) for page, text, a in cited if text != label[a]]

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
        repo_url, branch = cn.read_repository(ROOT)
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
        assert len(editions) == 1 and editions <= set(cn.EDITIONS), editions
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
