"""Text that came from a submission's kernel, made safe for a log, a message or a feedback page.

Whatever a kernel sends is the learner's: an exception's message, a class's ``__name__``, a
returned string. Before any of it enters a line the grader writes, :func:`clean` escapes every
character that could start a new line or move the cursor (newlines, carriage returns, other
control and format characters, line and paragraph separators: they appear as ``\\n``, ``\\x1b``,
``\\u2028``) and cuts it to :data:`LIMIT` characters. So a kernel can neither forge a line of the
autograde report nor grow it: every message of a verdict is one line of at most a few kB.
"""

#: characters of kernel text kept in one message
LIMIT = 2000


def clean(value, limit=LIMIT):
    """`value` (a string; anything else is first made one) as one line of at most about
    `limit` characters, every non-printable character escaped."""
    text = value if isinstance(value, str) else str(value)
    total = len(text)
    text = text[: limit + 1]
    out = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in text
    )
    if len(out) > limit or total > limit:
        out = out[:limit] + f"... ({total} characters, cut)"
    return out
