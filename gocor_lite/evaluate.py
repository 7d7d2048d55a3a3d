# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.evaluate``: measure every method on held-out and real pairs.

The command is :mod:`gocor_lite.cli.evaluate`."""

from gocor_lite.cli.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
