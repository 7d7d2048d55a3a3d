# SPDX-License-Identifier: MIT
"""The GOCor explorer: a Gradio app that shows what :mod:`gocor_lite` computes.

Layers, bottom to top (explorer/README.md): compute (``pipeline``, ``analysis``,
``network_compute``), drawing (``render``, ``network_render``, ``rules_render``,
``export_files``, ``explanations``), state (``state``, ``link``), the outputs' registry
(``outputs``: every output declared once), actions (``handlers``), page (``page``, ``wiring``,
``sections``, ``network_page``, ``app``). ``python -m explorer`` starts it.
"""

import os

# No usage statistics leave the machine (read by gradio when it is imported).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
