"""python -m simulator --port 8188 [--host H] [--data-dir D] [--delay S] [--name N] [--models M]

--models takes comma-separated folder/file entries (checkpoints/sd15.safetensors,loras/ink.safetensors)
or a JSON file holding {"folder": [files]} or ["folder/file", ...]; it may be given more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

from simulator.app import create_app
from simulator.config import SimConfig
from simulator.models import ModelSpecError, normalize, parse_cli


def _models(value: str) -> dict[str, list[str]]:
    try:
        return parse_cli(value)
    except ModelSpecError as ex:
        raise argparse.ArgumentTypeError(str(ex)) from ex


def parse_args(argv: list[str] | None = None) -> SimConfig:
    parser = argparse.ArgumentParser(prog="python -m simulator", description="ComfyUI 0.3.64 simulator")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a fresh temporary directory")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per executed node")
    parser.add_argument("--name", default="simulator")
    parser.add_argument(
        "--models",
        type=_models,
        action="append",
        default=[],
        metavar="FOLDER/FILE,...|FILE.json",
        help="model files the server holds (default: none)",
    )
    args = parser.parse_args(argv)
    models = normalize(
        [f"{folder}/{name}" for spec in args.models for folder, names in spec.items() for name in names]
    )
    return SimConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        delay=args.delay,
        name=args.name,
        models=models,
    )


async def serve(config: SimConfig) -> None:
    runner = web.AppRunner(create_app(config), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    if config.port == 0 and runner.addresses:
        config.port = runner.addresses[0][1]  # --port 0: report the one picked
    print(f"simulator listening on http://{config.host}:{config.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
