"""The ``.ipynb`` download of an executed page: its notebook form, with the outputs of the build.

sphinx-book-theme offers ``_sources/<page>.ipynb``, a copy of the notebook myst-nb wrote. When
myst-nb takes a page from the execution cache (``make book`` pre-executes every chapter into it,
``course.execute_cache``) it writes the notebook *without* outputs: the merged copy the cache
hands back is not the one it writes. So the download is rewritten here, after the theme's copy:

- a chapter downloads as its notebook form (``course.notebook_forms.chapter_notebook``, what
  Colab and Binder open: no MyST left, a setup cell), with every output of the build and the
  glued values in the text;
- any other executed page downloads as myst-nb's notebook with the outputs of the build.
"""

from functools import lru_cache
from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from sphinx.util import logging

from course import notebook_forms
from course.myst_to_ipynb import Book, glue_values
from course.publish import read_address

logger = logging.getLogger(__name__)


def _has_outputs(nb):
    return any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


def executed_notebook(app, pagename):
    """The page's notebook with the outputs of this build (from the cache if need be)."""
    path = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cache_path = app.config.nb_execution_cache_path
    if _has_outputs(nb) or app.config.nb_execution_mode != "cache" or not cache_path:
        return nb
    try:
        _, merged = get_cache(cache_path).merge_match_into_notebook(nb)
    except KeyError:
        logger.warning("[bnlab] %s is not in the execution cache: no outputs", pagename)
        return nb
    return merged


@lru_cache(maxsize=4)
def _book(root):
    return Book(root, read_address(root).site)


def _with_outputs(form, executed):
    code = [c for c in form.cells if c.cell_type == "code"]
    code = [c for c in code if notebook_forms.SETUP_TAG not in c.metadata.get("tags", [])]
    ran = [c for c in executed.cells if c.cell_type == "code"]
    if [c.source for c in code] != [c.source for c in ran]:
        raise ValueError("the notebook form's code differs from the executed page's")
    for cell, result in zip(code, ran, strict=True):
        cell.outputs = result.get("outputs", [])
        cell.execution_count = result.get("execution_count")
    return form


def write_download(app, pagename, templatename, context, doctree):
    source = context.get("ipynb_source")
    if not source:
        return
    executed = executed_notebook(app, pagename)
    nb = executed
    if notebook_forms.launch_path(pagename, app.srcdir) == notebook_forms.notebook_path(pagename):
        chapter = Path(app.env.doc2path(pagename))
        form = notebook_forms.chapter_notebook(
            chapter, book=_book(str(app.srcdir)), glue=glue_values(executed)
        )
        nb = _with_outputs(form, executed)
    target = Path(app.outdir) / "_sources" / source
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


def setup(app):
    # after sphinx-book-theme's add_launch_buttons (501), which copies the notebook there
    app.connect("html-page-context", write_download, priority=700)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
