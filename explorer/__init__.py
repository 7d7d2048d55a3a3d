# SPDX-License-Identifier: MIT
"""The Gradio app: shows what gocor_lite computes (see issue 4)."""
