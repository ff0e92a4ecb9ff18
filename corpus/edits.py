"""The two edits every variant table uses: a base set of answer cells with some replaced, and a
text edit that must apply (a variant whose edit silently did nothing would be the base)."""


def sub(text, old, new):
    """`text` with `old` replaced by `new`; an error if `old` is not in `text`."""
    if old not in text:
        raise ValueError(f"variant edit does not apply: {old!r}")
    return text.replace(old, new)


def with_cells(base, **cells):
    """The answer cells `base` with `cells` replaced or added."""
    out = dict(base)
    out.update(cells)
    return out
