"""python -m simulator --port 8188 [--host H] [--data-dir D] [--delay S] [--name N] [--models M]
                      [--vram N] [--load-seconds S] [--profile 0.3.64|current]

--models takes comma-separated folder/file entries (checkpoints/sd15.safetensors,loras/ink.safetensors)
or a JSON file holding {"folder": [files]} or ["folder/file", ...]; it may be given more than once.
In the JSON forms a file may also be {"name": ..., "load_seconds": S}: its own load time, e.g.
{"checkpoints": [{"name": "sdxl.safetensors", "load_seconds": 3}, "sd15.safetensors"]}.
--vram N: how many model files can be loaded at once (least recently used out; default no limit);
--load-seconds S: what loading a model file that is not loaded costs (default 0: loads are free).
See simulator/residency.py.
--profile: which ComfyUI it answers as: 0.3.64 (default, the recorded traces) or current (the
newest release docs/comfyui-versions.md confirms); see simulator/profiles.py.
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
from simulator.models import ModelSpec, ModelSpecError, normalize, parse_cli
from simulator.profiles import PROFILES


def _models(value: str) -> ModelSpec:
    try:
        return parse_cli(value)
    except ModelSpecError as ex:
        raise argparse.ArgumentTypeError(str(ex)) from ex


def _vram(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of model files >= 1, not {value!r}")
    return count


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, not {value!r}")
    return seconds


def parse_args(argv: list[str] | None = None) -> SimConfig:
    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="ComfyUI simulator (0.3.64 or current)"
    )
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
    parser.add_argument(
        "--vram", type=_vram, default=None, metavar="N", help="model files loaded at once (default: no limit)"
    )
    parser.add_argument(
        "--load-seconds",
        type=_seconds,
        default=0.0,
        metavar="S",
        help="seconds to load a model file that is not loaded (default 0)",
    )
    parser.add_argument(
        "--sampler-seconds",
        type=_seconds,
        default=None,
        metavar="S",
        help="seconds a sampler run takes, the other nodes spending --delay (default: --delay)",
    )
    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="0.3.64",
        help="which ComfyUI it answers as (default 0.3.64; current: the newest confirmed release)",
    )
    args = parser.parse_args(argv)
    specs: list[ModelSpec] = args.models
    models = normalize(
        [f"{folder}/{name}" for spec in specs for folder, names in spec.files.items() for name in names]
    )
    load_times = {file: seconds for spec in specs for file, seconds in spec.load_seconds.items()}
    return SimConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        delay=args.delay,
        sampler_seconds=args.sampler_seconds,
        name=args.name,
        models=models,
        vram=args.vram,
        load_seconds=args.load_seconds,
        model_load_seconds=load_times,
        profile=args.profile,
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
