"""Sphinx extension for the course website (``_config.yml``: ``sphinx.local_extensions``).

- Math is typeset by a copy of MathJax served from the site itself, so neither the build nor a
  page load fetches anything from another host (a classroom without internet still gets math).
- The launch buttons (Binder, Colab, JupyterHub) open the notebook form of the page that exists in
  the repository (``notebooks/`` for chapters, ``exercises/`` for exercises), never a MyST file.
- ``_ext/static/bnlab.css`` and ``bnlab.js`` (not in the book's ``_static``, whose CSS and JS
  Jupyter Book adds to every page by itself, a second time and without ``defer``): tables that
  fit the column, a displayed formula wider than its column scrolling in its own box (MathJax 3
  does not break lines), and the print layout of the PDF.
- Every figure links to its full-size image: on a phone, where the column is narrower than the
  figure, a tap opens it at the size its text was drawn for (``bnlab.style``).
- The edition, ``student`` (default) or ``self-study``, decides the exercise pages; set it with
  the environment variable ``BNLAB_EDITION``. Every page names its edition in a meta tag.
"""

import importlib.util
import os
import re
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging

from course import chapter_times, exercise_pages, notebook_forms

MATHJAX_PACKAGE = "sphinx-mathjax-offline"
MATHJAX_ENTRY = "mathjax/tex-chtml.js"
EDITION_ENV = "BNLAB_EDITION"
LAUNCH_GROUP = "launch-buttons"

logger = logging.getLogger(__name__)


def use_offline_mathjax(app, config):
    """Serve MathJax 3 from ``_static/mathjax`` (copied from a pinned PyPI package)."""
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            f"the offline MathJax package is missing: pip install {MATHJAX_PACKAGE} "
            "(it is pinned in requirements.txt)"
        )
    static = Path(spec.submodule_search_locations[0]) / "static"
    if not (static / MATHJAX_ENTRY).is_file():
        raise ExtensionError(f"{static / MATHJAX_ENTRY} not found in {MATHJAX_PACKAGE}")
    config.html_static_path.append(str(static))
    config.mathjax_path = MATHJAX_ENTRY


def serve_own_static(app, config):
    """Serve ``_ext/static`` (bnlab.css, bnlab.js), added once each in `setup`."""
    config.html_static_path.append(str(Path(__file__).parent / "static"))


def use_light_mode(app, config):
    """Open pages in light mode: figures have white backgrounds, and pydata-sphinx-theme logs a
    console error ("invalid theme mode") when no default mode is set."""
    config.html_context.setdefault("default_mode", "light")


def add_chapter_times(app, config):
    """``{{ chapter_times }}`` on any page: the chapters and how long each one takes."""
    config.myst_substitutions = {
        **config.myst_substitutions,
        "chapter_times": chapter_times.chapter_times_table(app.srcdir, prefix="/"),
    }


def select_edition(app, config):
    """Fix the edition and write its exercise pages before the table of contents is read."""
    edition = os.environ.get(EDITION_ENV) or config.bnlab_edition
    if edition not in exercise_pages.EDITIONS:
        raise ExtensionError(
            f"{EDITION_ENV} must be one of {exercise_pages.EDITIONS}, got {edition!r}"
        )
    config.bnlab_edition = edition
    pages = exercise_pages.write_exercise_pages(edition, app.srcdir)
    logger.info("[bnlab] %s edition, %d exercise page(s)", edition, len(pages))


def point_launch_buttons_at_notebooks(app, pagename, templatename, context, doctree):
    """Rewrite the theme's launch links from the page source to its notebook in the repo."""
    buttons = context.get("header_buttons", [])
    groups = [b for b in buttons if b.get("label") == LAUNCH_GROUP]
    if not groups:
        return
    theme = app.config.html_theme_options
    prefix = theme.get("path_to_docs", "").strip("/")
    prefix = f"{prefix}/" if prefix else ""
    source = Path(app.env.doc2path(pagename))
    suffix = ".ipynb" if source.with_suffix(".ipynb").exists() else source.suffix
    target = notebook_forms.launch_path(pagename, app.srcdir)
    if target is None:
        # Only chapters and exercises have a notebook form; the browser test asks for one on
        # every executable page, so a new kind of executable page shows up there.
        logger.info("[bnlab] no notebook form for %s: no launch buttons", pagename)
        for group in groups:
            buttons.remove(group)
        return
    if not (Path(app.srcdir) / target).is_file():
        logger.warning(
            "[bnlab] launch buttons of %s would open %s, which does not exist; "
            "run `make notebooks`",
            pagename,
            target,
            location=pagename,
        )
        for group in groups:
            buttons.remove(group)
        return
    old = f"{prefix}{pagename}{suffix}"
    for group in groups:
        for button in group["buttons"]:
            if "url" not in button:
                continue
            if old not in button["url"]:
                logger.warning("[bnlab] unexpected launch URL %s", button["url"])
            button["url"] = button["url"].replace(old, f"{prefix}{target}")


_CONTENT_IMAGE = re.compile(r'(<a\b[^>]*>\s*)?(<img\b[^>]*\bsrc="((?:\.\./)*_images/[^"]+)"[^>]*>)')


def _full_size_link(match):
    if match.group(1):
        return match.group(0)
    return (
        f'<a class="reference internal image-reference bnlab-full-size" href="{match.group(3)}">'
        f"{match.group(2)}</a>"
    )


def list_roles_for_citations(app, pagename, templatename, context, doctree):
    """The bibliography as a list of list items: docutils writes ``role="list"`` around entries
    with the deprecated ``role="doc-biblioentry"``, which a list may not contain (axe-core:
    aria-required-children, aria-deprecated-role)."""
    if "body" in context and 'class="citation-list"' in context["body"]:
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')


def link_figures_to_full_size(app, pagename, templatename, context, doctree):
    """Wrap every content image that is not a link yet in a link to its own file."""
    if "body" in context:
        context["body"] = _CONTENT_IMAGE.sub(_full_size_link, context["body"])


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    """Keep one copy of each script.

    Under Sphinx 7 the inline scripts of sphinx-thebe and sphinx-togglebutton end up in the page
    twice (once named None, once ""), and the second ``const THEBE_JS_URL`` is a console error.
    """
    seen, unique = set(), []
    for script in context.get("script_files", []):
        name = getattr(script, "filename", script) or ""
        key = (str(name), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def add_edition_meta(app, pagename, templatename, context, doctree):
    edition = app.config.bnlab_edition
    meta = f'<meta name="bnlab-edition" content="{edition}" />\n'
    context["metatags"] = context.get("metatags", "") + meta


def setup(app):
    app.add_config_value("bnlab_edition", "student", "env", [str])
    app.add_css_file("bnlab.css")
    app.add_js_file("bnlab.js", defer="defer")
    app.connect("config-inited", use_offline_mathjax)
    app.connect("config-inited", serve_own_static)
    app.connect("config-inited", use_light_mode)
    app.connect("config-inited", add_chapter_times)
    app.connect("config-inited", select_edition, priority=100)
    app.connect("html-page-context", point_launch_buttons_at_notebooks, priority=600)
    app.connect("html-page-context", add_edition_meta)
    app.connect("html-page-context", link_figures_to_full_size)
    app.connect("html-page-context", list_roles_for_citations)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
