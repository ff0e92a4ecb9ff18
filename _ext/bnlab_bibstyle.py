"""The bibliography style of the book (``_config.yml``: ``bibtex_default_style: bnlab`` and
``bibtex_reference_style: bnlab``).

The text cites author-year, so the references page is labelled the same way, "Ioffe and Szegedy,
2015", "Goyal et al., 2017", and sorted by author, year and title. pybtex's ``alpha`` labels
("[GDollarG+17]") garble accented and group names. Two entries with the same label get "a", "b",
… after the year, in sorted order, and so do their citations in the text ("He et al., 2016b"):
the citation style is sphinxcontrib-bibtex's ``author_year`` with the year taken from the label.
"""

from collections import Counter
from dataclasses import dataclass
from string import ascii_lowercase

from pybtex.plugin import find_plugin, register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.template import join, node
from sphinxcontrib.bibtex.plugin import register_plugin as register_bibtex_plugin
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle
from sphinxcontrib.bibtex.style.referencing.basic_author_year import (
    BasicAuthorYearParentheticalReferenceStyle,
    BasicAuthorYearTextualReferenceStyle,
)
from sphinxcontrib.bibtex.style.template import join2, post_text, pre_text, reference

ET_AL = 3  # from this many authors on, the label names the first one only
NAMES = find_plugin("pybtex.style.names", "last")()  # as the text's citations name authors


def _last_name(person):
    return NAMES.format(person, True).format().render_as("text")


def author_year(entry):
    """``"Ioffe and Szegedy, 2015"``: the label of one entry, worded as the text cites it."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(p) for p in persons]
    if not names:
        who = entry.fields.get("title", entry.key)
    elif len(names) >= ET_AL:
        who = f"{names[0]} et al."
    else:
        who = " and ".join(names)
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        labels = [author_year(e) for e in sorted_entries]
        total, seen = Counter(labels), Counter()
        for label in labels:
            if total[label] > 1:
                seen[label] += 1
                yield label + ascii_lowercase[seen[label] - 1]
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabelStyle
    default_sorting_style = "author_year_title"


@node
def label_year(children, data):
    """The year as the entry's label writes it: "2016a" where two entries share a label."""
    assert not children
    return Text(data["formatted_entry"].label.rsplit(", ", 1)[-1])


@dataclass
class AuthorLabelYearReferenceStyle(AuthorYearReferenceStyle):
    """``author_year``, its parenthetical and textual citations with `label_year`."""

    def inner(self, role_name):
        style = self.role_style[role_name]
        if isinstance(style, BasicAuthorYearParentheticalReferenceStyle):
            who = style.person.author_or_editor_or_title(full="s" in role_name)
            return join2(sep1=style.pre_text_sep, sep2=style.post_text_sep)[
                pre_text, reference[join(sep=style.author_year_sep)[who, label_year]], post_text
            ]
        if isinstance(style, BasicAuthorYearTextualReferenceStyle):
            who = style.person.author_or_editor_or_title(full="s" in role_name)
            year = join2(sep1=style.pre_text_sep, sep2=style.post_text_sep)[
                pre_text, reference[label_year], post_text
            ]
            return join(sep=style.text_reference_sep)[
                who, join[style.bracket.left, year, style.bracket.right]
            ]
        return super().inner(role_name)


def setup(app):
    register_plugin("pybtex.style.formatting", "bnlab", AuthorYearStyle)
    register_bibtex_plugin(
        "sphinxcontrib.bibtex.style.referencing", "bnlab", AuthorLabelYearReferenceStyle
    )
    return {"parallel_read_safe": True, "parallel_write_safe": True}
