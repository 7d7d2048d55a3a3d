# SPDX-License-Identifier: MIT
"""The project's tools, run from the repository root and not shipped in the wheel
(``pyproject.toml`` packages ``gocor_lite`` and ``explorer`` only).

* ``python -m tools.explorer_bench``: the explorer's timings (a click, the browser, the cost
  estimate's measurements);
* ``python -m tools.explorer_load``: many sessions clicking at once;
* ``python -m tools.explorer_screenshot``: the README's pictures of the page.
"""
