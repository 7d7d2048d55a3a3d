# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.flow``: the dense flow between two images. The command is
:mod:`gocor_lite.cli.flow`."""

from gocor_lite.cli.flow import main

if __name__ == "__main__":
    raise SystemExit(main())
