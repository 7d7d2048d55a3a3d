# SPDX-License-Identifier: MIT
"""Start the explorer: ``python -m explorer`` or ``gocor-explorer``.

python -m explorer                     # http://127.0.0.1:7860, this machine only
python -m explorer --port 7871
python -m explorer --host 0.0.0.0      # reachable from the network: only if you mean it
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gocor-explorer", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    parser.add_argument(
        "--share", action="store_true", help="also open a public gradio.live link (off by default)"
    )
    args = parser.parse_args(argv)

    import torch

    from explorer.app import build, launch_options

    torch.set_num_threads(min(2, torch.get_num_threads()))
    print(f"Preparing the first example pair; then open http://{args.host}:{args.port}")
    demo = build()
    demo.launch(**launch_options(args.host, args.port, args.share))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
