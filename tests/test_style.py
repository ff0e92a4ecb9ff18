"""bnlab.style: figures whose smallest text is legible at the width the website shows them."""

import io

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from bnlab import style  # noqa: E402


def shown_text_px(png, column_px=style.COLUMN_PX):
    """Smallest text as a reader sees it: the size recorded in the image, scaled to the column."""
    with Image.open(io.BytesIO(png)) as image:
        drawn = float(image.text[style.TEXT_KEY])
        width = image.size[0]
    return drawn * min(1.0, column_px / width)


@pytest.fixture
def figure():
    def make(width, legend_size="small"):
        style.use_course_style()
        fig, axes = plt.subplots(1, 3, figsize=(width, 3))
        for ax in axes:
            ax.plot([0, 1], [1e4, 2e4], label="a line")
            ax.legend(fontsize=legend_size)
            ax.set_title("a title")
        fig.tight_layout()
        return fig

    yield make
    plt.close("all")


@pytest.mark.parametrize("width", [5, 6.5, 10.5, 12, 16])
def test_smallest_text_is_legible_in_the_column(figure, width):
    png = style.legible_png(figure(width))
    assert shown_text_px(png) >= style.MIN_TEXT_PX - 0.01


def test_a_figure_that_fits_keeps_its_fonts(figure):
    fig = figure(5, legend_size=10)
    fig.canvas.draw()
    before = style.smallest_text_pt(fig)
    style.legible_png(fig)
    assert style.smallest_text_pt(fig) == before


def test_the_unfitted_wide_figure_is_illegible(figure):
    # the same figure drawn without legible_png: its recorded text would be below the bound
    fig = figure(16)
    fig.canvas.draw()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=fig.dpi, bbox_inches="tight")
    with Image.open(io.BytesIO(out.getvalue())) as image:
        width = image.size[0]
    drawn = style.smallest_text_pt(fig) * fig.dpi / 72
    assert drawn * min(1.0, style.COLUMN_PX / width) < style.MIN_TEXT_PX


def test_bad_bounds_are_refused(figure):
    with pytest.raises(ValueError, match="column_px and min_px must be positive"):
        style.legible_png(figure(6), column_px=0)


def test_a_kernel_shows_figures_with_their_text_size(tmp_path):
    """In a real IPython kernel, where the inline backend registers its own PNG formatter when it
    loads (at the first figure), a figure a cell shows is still drawn by `legible_png`: the PNG
    that display() makes of it holds `TEXT_KEY`."""
    import nbformat

    from course.execute import execute_notebook

    out = tmp_path / "shown.png"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from bnlab.style import use_course_style\nuse_course_style()"),
        nbformat.v4.new_code_cell(
            "import base64\nimport matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots(figsize=(12, 3))\nax.set_title('a title')\n"
            "data = get_ipython().display_formatter.format(fig)[0]['image/png']\n"
            f"open({str(out)!r}, 'wb').write(base64.b64decode(data))"
        ),
    ]
    nbformat.write(nb, tmp_path / "figure.ipynb")
    assert execute_notebook(tmp_path / "figure.ipynb") == []
    assert shown_text_px(out.read_bytes()) >= style.MIN_TEXT_PX
