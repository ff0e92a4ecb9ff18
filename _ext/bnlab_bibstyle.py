"""The bibliography style of the book (``_config.yml``: ``bibtex_default_style: bnlab``).

The text cites author-year (``bibtex_reference_style: author_year``), so the references page is
labelled the same way, "Ioffe and Szegedy, 2015", "Goyal et al., 2017", and sorted by author,
year and title. pybtex's ``alpha`` labels ("[GDollarG+17]") garble accented and group names.
Two entries with the same label get "a", "b", … after the year, in sorted order.
"""

from collections import Counter
from string import ascii_lowercase

from pybtex.plugin import find_plugin, register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle

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


def setup(app):
    register_plugin("pybtex.style.formatting", "bnlab", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
