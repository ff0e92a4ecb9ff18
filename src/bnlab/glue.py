"""Values a chapter's text shows: myst-nb's ``glue`` without myst-nb.

The website shows a glued value where the text says ``{glue:text}`name```; the notebook form
(Colab, Binder, a hub) has no myst-nb, so the chapters glue with this instead. It writes the
output myst-nb's ``glue(name, value, display=False)`` writes (the value's ``text/plain`` under
papermill's record prefix, named in the ``scrapbook`` metadata), plus an empty ``text/plain``
so that Jupyter shows nothing rather than "no renderer for this output".
"""

PREFIX = "application/papermill.record/"


def glue_output(name, value):
    """``(data, metadata)`` of the display output that records `value` as `name`.

    Examples
    --------
    >>> data, metadata = glue_output("ratio", 1.5)
    >>> data[PREFIX + "text/plain"], data["text/plain"]
    ('1.5', '')
    >>> metadata["scrapbook"] == {"name": "ratio", "mime_prefix": PREFIX}
    True
    """
    from IPython.core.formatters import format_display_data

    bundle, metadata = format_display_data(value)
    data = {PREFIX + mime: content for mime, content in bundle.items()}
    data["text/plain"] = ""
    metadata["scrapbook"] = {"name": name, "mime_prefix": PREFIX}
    return data, metadata


def glue(name, value):
    """Record `value` as `name` for the text of the page; shows nothing in the notebook."""
    from IPython.display import display

    data, metadata = glue_output(name, value)
    display(data, raw=True, metadata=metadata)
