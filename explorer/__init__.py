# SPDX-License-Identifier: MIT
"""The GOCor explorer: a Gradio app that shows what :mod:`gocor_lite` computes.

``pipeline`` computes (no Gradio), ``render`` draws, ``handlers`` says what each action does,
``app`` lays out the page and wires its events; ``python -m explorer`` starts it.
"""

import os

# No usage statistics leave the machine (read by gradio when it is imported).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
