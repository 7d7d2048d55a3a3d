# SPDX-License-Identifier: MIT
"""Start the explorer: ``python -m explorer`` or ``gocor-explorer``.

python -m explorer                     # http://127.0.0.1:7860, this machine only
python -m explorer --port 7871
python -m explorer --host 0.0.0.0      # reachable from the network: only if you mean it
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port`` (checked before the slow start)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _busy(host: str, port: int) -> int:
    print(
        f"gocor-explorer: port {port} on {host} is already in use (another explorer?). "
        f"Choose another one: python -m explorer --port {port + 1} "
        f"(make run PORT={port + 1}).",
        file=sys.stderr,
    )
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gocor-explorer", description=__doc__.splitlines()[0].replace("``", "")
    )
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
    if not 0 < args.port < 65536:
        parser.error(f"--port must be between 1 and 65535, not {args.port}")
    if port_in_use(args.host, args.port):
        return _busy(args.host, args.port)

    import torch

    from explorer.app import build, launch_options
    from explorer.handlers import Explorer

    torch.set_num_threads(min(2, torch.get_num_threads()))
    explorer = Explorer()
    demo = build(explorer, compute_first=False)  # the first pair is computed once it serves
    if port_in_use(args.host, args.port):  # taken while the page was built
        return _busy(args.host, args.port)
    # Stopped by a signal, it exits as by Ctrl-C: what it wrote is deleted (explorer.app).
    signal.signal(signal.SIGTERM, _stop)
    # Quiet: Gradio's own banner would advise share=True in launch(); the switch is --share.
    # The server starts first; the first pair is computed once it answers (not competing with
    # its start for the 2 cores), and a page opened meanwhile shows its progress.
    demo.launch(
        **launch_options(args.host, args.port, args.share),
        quiet=not args.share,
        prevent_thread_lock=True,
    )
    threading.Thread(target=explorer.compute_first, name="first-pair", daemon=True).start()
    print(
        f"Open http://{args.host}:{args.port} (the first pair is being computed; Ctrl-C stops "
        "the server; --share adds a public link)"
    )
    demo.block_thread()
    return 0


def _stop(number: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    raise SystemExit(main())
