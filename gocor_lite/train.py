# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.train``: train every weight the project ships.

The command is :mod:`gocor_lite.cli.train`."""

from gocor_lite.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
