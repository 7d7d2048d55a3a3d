# SPDX-License-Identifier: MIT
"""The commands, apart from the library they drive (the library never imports them): each
module here has a ``main`` and runs as ``python -m gocor_lite.cli.<name>`` (``flow``,
``train``, ``evaluate``, ``bench``, ``figure``, ``xfeat_weights``) or, once the package is
installed, as the console command ``gocor-<name>`` (``gocor-flow``, ``gocor-xfeat-weights``;
``[project.scripts]`` in ``pyproject.toml``). Progress bars (tqdm) and printing live only here.
"""


def plain(text: str) -> str:
    """A docstring as a command's ``--help`` shows it: reStructuredText's double backquotes
    and roles dropped (``:func:`x``` -> ``x``).

    >>> plain("Run ``make bench``; see :mod:`gocor_lite.cli.bench`.")
    'Run make bench; see gocor_lite.cli.bench.'
    """
    import re

    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")
