# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.bench``: side-by-side timings and memory.

The command is :mod:`gocor_lite.cli.bench`."""

from gocor_lite.cli.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
