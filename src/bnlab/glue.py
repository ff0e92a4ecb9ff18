"""Values a chapter's text shows: myst-nb's ``glue`` without myst-nb.

The website shows a glued value where the text says ``{glue:text}`name```; the notebook form
(Colab, Binder, a hub) has no myst-nb, so the chapters glue with this instead. It writes the
output myst-nb's ``glue(name, value, display=False)`` writes (the value's ``text/plain`` under
papermill's record prefix, named in the ``scrapbook`` metadata), plus an empty ``text/plain``
so that Jupyter shows nothing rather than "no renderer for this output".
"""

PREFIX = "application/papermill.record/"


def glue(name, value):
    """Record `value` as `name` for the text of the page; shows nothing in the notebook.

    Examples
    --------
    >>> glue("ratio", 1.5)  # outside a kernel: nothing to display to
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    bundle, metadata = format_display_data(value)
    data = {PREFIX + mime: content for mime, content in bundle.items()}
    data["text/plain"] = ""
    metadata["scrapbook"] = {"name": name, "mime_prefix": PREFIX}
    display(data, raw=True, metadata=metadata)
