"""The course's figure style: one colour-blind-safe palette, and text legible where it is shown.

A figure is shown in the content column of the website, `COLUMN_PX` CSS pixels wide on a laptop
(1280 px window); a figure drawn wider is scaled down to that width, and its text with it. So the
text a reader sees is ``size_pt * DPI / 72 * min(1, COLUMN_PX / width_px)`` pixels. Once
`use_course_style` has run in IPython (a chapter's kernel, Jupyter, Colab), every figure is drawn
with its text enlarged where needed so that its smallest text is at least `MIN_TEXT_PX` in the
column, and its PNG records that smallest size (key `TEXT_KEY`, in pixels of the image) for the
site's browser test. On a phone the site links each figure to its full-size image.
"""

from binascii import b2a_base64
from io import BytesIO

#: Okabe & Ito's palette: distinguishable with the common colour-vision deficiencies.
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
#: width a figure is shown at in the content column at a 1280 px window (tests/test_browser.py)
COLUMN_PX = 672
#: the smallest text a reader must see, in CSS pixels
MIN_TEXT_PX = 9.0
DPI = 110
#: PNG text key: the smallest text of the figure, in pixels of the image
TEXT_KEY = "bnlab-smallest-text-px"


def _texts(fig):
    """Every visible, non-empty text of `fig` (tick labels included, once drawn)."""
    from matplotlib.text import Text

    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_figure(root=True) is fig
    ]


def smallest_text_pt(fig):
    """The size in points of the smallest text of a drawn figure (inf when it has none)."""
    return min((t.get_fontsize() for t in _texts(fig)), default=float("inf"))


def _render(fig, metadata=None):
    out = BytesIO()
    fig.canvas.print_figure(
        out,
        format="png",
        dpi=fig.dpi,
        bbox_inches="tight",
        facecolor=fig.get_facecolor(),
        edgecolor=fig.get_edgecolor(),
        metadata=metadata,
    )
    return out.getvalue()


def _png_width(data):
    return int.from_bytes(data[16:20], "big")


def _enlarge(fig, size_pt):
    """Raise every text of `fig` smaller than `size_pt` to it (tick labels through the axis)."""
    for ax in fig.axes:
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            labels = [t for t in axis.get_ticklabels(which="both") if t.get_text()]
            if labels and min(t.get_fontsize() for t in labels) < size_pt:
                ax.tick_params(axis=name, which="both", labelsize=size_pt)
    for text in _texts(fig):
        if text.get_fontsize() < size_pt:
            text.set_fontsize(size_pt)


def legible_png(fig, column_px=COLUMN_PX, min_px=MIN_TEXT_PX):
    """PNG bytes of `fig` whose smallest text is at least `min_px` when shown `column_px` wide.

    Text below the bound is enlarged (the layout is redone where the figure has a layout
    engine or used ``tight_layout``); the PNG's text chunk `TEXT_KEY` holds the smallest text
    in pixels of the image. Returns None for a figure without axes (nothing to show).
    """
    if not fig.axes:
        return None
    if column_px <= 0 or min_px <= 0:
        raise ValueError(f"column_px and min_px must be positive, got {column_px}, {min_px}")
    data = _render(fig)
    for _ in range(4):
        scale = min(1.0, column_px / _png_width(data))
        needed_pt = min_px * 72 / (fig.dpi * scale)
        if smallest_text_pt(fig) >= needed_pt - 1e-9:
            break
        _enlarge(fig, round(needed_pt + 0.05, 1))
        if fig.get_layout_engine() is None:
            fig.tight_layout()
        data = _render(fig)
    smallest_px = smallest_text_pt(fig) * fig.dpi / 72
    return _render(fig, metadata={TEXT_KEY: f"{smallest_px:.2f}"})


def _png_for_display(fig):
    data = legible_png(fig)
    return None if data is None else b2a_base64(data, newline=False).decode("ascii")


def use_course_style():
    """Set the colour cycle to `OKABE_ITO`, the resolution to `DPI` and, in IPython, legible
    figures (:func:`legible_png` draws every figure a cell shows).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> use_course_style()
    >>> plt.rcParams["axes.prop_cycle"].by_key()["color"][0]
    '#0072B2'
    """
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    plt.rcParams.update({"axes.prop_cycle": plt.cycler(color=list(OKABE_ITO)), "figure.dpi": DPI})
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return
    shell = get_ipython()
    if shell is not None:
        # Load the backend now: IPython's inline backend registers its own PNG formatter when it
        # loads (at the first figure otherwise), which would replace the one set here.
        plt.switch_backend(plt.get_backend())
        shell.display_formatter.formatters["image/png"].for_type(Figure, _png_for_display)
