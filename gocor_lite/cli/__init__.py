# SPDX-License-Identifier: MIT
"""The commands, apart from the library they drive: ``python -m gocor_lite.train``,
``.evaluate``, ``.bench``, ``.figure`` and ``.flow`` (each a thin entry module that calls the
``main`` here). Progress bars (tqdm) and printing live only here."""
