"""The whole book as one PDF (``make pdf``): the single-page build printed by Debian's Chromium.

``make pdf`` builds the book with Sphinx's ``singlehtml`` builder (the same executed chapters,
read from the execution cache) into ``_build/pdf/_build/singlehtml``, apart from the website's
build; this module then serves that page on 127.0.0.1, opens it in headless Chromium at the width
of the printed column, waits until MathJax has typeset every formula and every image has loaded,
and prints it with the DevTools command ``Page.printToPDF``: A4, page numbers in the footer, each
chapter and page of the book on a new sheet. ``_ext/static/bnlab.css`` (``@media print``) leaves out
the navigation, the buttons and the folded-away plotting code. The equations are MathJax's, as on
the website, and the figures the build's own PNGs.

Run ``python -m course.pdf [--site DIR] [--out FILE]``.
"""

import argparse
import base64
import contextlib
import functools
import http.server
import tempfile
import threading
import time
from pathlib import Path

from course import browser
from course.layout import REPO_ROOT

SITE = REPO_ROOT / "_build" / "pdf" / "_build" / "singlehtml"
OUT = REPO_ROOT / "_build" / "pdf" / "book.pdf"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# A4 with 15 mm margins leaves a column of 180 mm, 680 CSS pixels: the page is laid out (and its
# wide formulas scaled by bnlab.js) at that width before it is printed.
PAPER_MM = (210, 297)
MARGIN_MM = 15
COLUMN_PX = round((PAPER_MM[0] - 2 * MARGIN_MM) / 25.4 * 96)
FOOTER = (
    '<div style="font-size: 8px; width: 100%; text-align: center; color: #555;">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(site):
    """``site`` over HTTP on 127.0.0.1 (MathJax loads its fonts and parts by URL)."""
    handler = functools.partial(_Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def chromium():
    """Headless Debian Chromium through Selenium, laid out at the printed column's width."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--no-first-run",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="bnlab-pdf-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={COLUMN_PX},1200")
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        try:
            driver.set_script_timeout(120)
            driver.set_page_load_timeout(120)
            yield driver
        finally:
            driver.quit()


def print_pdf(site=SITE, out=OUT):
    """Print ``site``'s single page to ``out``; return what the page reported and the seconds."""
    site, out = Path(site), Path(out)
    page = next((p for p in ("intro.html", "index.html") if (site / p).is_file()), None)
    if page is None:
        raise FileNotFoundError(f"no single-page build in {site}: run `make pdf`")
    start = time.perf_counter()
    with serve(site) as url, chromium() as driver:
        driver.get(f"{url}/{page}")
        state = driver.execute_async_script(browser.WAIT_FOR_PAGE)
        if state["mathjax"] != "typeset" or state["errors"] or state["broken"]:
            raise RuntimeError(f"the page did not render cleanly: {state}")
        inch = 1 / 25.4
        pdf = driver.execute_cdp_cmd(
            "Page.printToPDF",
            {
                "paperWidth": PAPER_MM[0] * inch,
                "paperHeight": PAPER_MM[1] * inch,
                **{
                    f"margin{side}": MARGIN_MM * inch for side in ("Top", "Bottom", "Left", "Right")
                },
                "printBackground": True,
                "displayHeaderFooter": True,
                "headerTemplate": "<span></span>",
                "footerTemplate": FOOTER,
                "preferCSSPageSize": False,
            },
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(pdf["data"]))
    return state, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=SITE, help="the singlehtml build")
    parser.add_argument("--out", type=Path, default=OUT, help="the PDF to write")
    args = parser.parse_args(argv)
    _, seconds = print_pdf(args.site, args.out)
    print(f"{args.out}: {args.out.stat().st_size / 2**20:.1f} MiB, printed in {seconds:.0f} s")


if __name__ == "__main__":
    main()
