# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.figure``: draw the GOCor paper's Fig. 1 for a pair.

The command is :mod:`gocor_lite.cli.figure`."""

from gocor_lite.cli.figure import main

if __name__ == "__main__":
    raise SystemExit(main())
