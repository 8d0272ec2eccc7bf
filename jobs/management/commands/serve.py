"""Serve ComfyWeb with Daphne, with the relay on the same event loop.

The in-memory channel layer does not cross processes or event loops, so in the embedded
default (no REDIS_URL) the relay must live in the web process, on Daphne's own loop.
Daphne does not send ASGI lifespan events, so the relay is started from its ready callback.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import logging
import os
import socket

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.management.base import BaseCommand, CommandError

from jobs.management import lifetime

log = logging.getLogger("jobs.serve")


class Command(BaseCommand):
    help = "Serve the app with Daphne; runs the relay in-process unless REDIS_URL is set."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--simulators",
            type=int,
            default=None,
            help="built-in simulators to start (default: 2 when COMFYUI_SERVERS is unset)",
        )
        parser.add_argument(
            "--sim-delay",
            type=float,
            default=0.4,
            help="seconds each simulated node takes, so progress is visible",
        )
        parser.add_argument("--relay", choices=["auto", "yes", "no"], default="auto")
        parser.add_argument(
            "--stop-with-parent",
            action="store_true",
            help="stop when the process that started it ends (make run: make keeps a SIGTERM to itself)",
        )

    def handle(self, *args, **options) -> None:
        parent = os.getppid()  # before anything slow: it may end while the simulators start
        _check_port_free(options["host"], options["port"])
        comfyui_port = settings.COMFYWEB_COMFYUI_PORT
        if comfyui_port is not None:
            _check_port_free(options["host"], comfyui_port, "COMFYWEB_COMFYUI_PORT")
        from daphne.server import Server as DaphneServer  # installs the asyncio reactor first

        from comfyweb import daphne_requests
        from comfyweb.asgi import app, comfyui
        from comfyweb.ports import PortRouter
        from jobs.core.servers import register_named, register_servers, retire_builtin
        from jobs.relay.loop import Relay

        if settings.COMFYUI_SERVERS:
            register_servers(settings.COMFYUI_SERVERS)
        count = options["simulators"]
        if count is None:
            count = 0 if settings.COMFYUI_SERVERS else 2
        started = self._start_simulators(count, options["sim_delay"], register_named)
        if retired := retire_builtin(started):
            self.stdout.write(f"disabled {retired} built-in simulator(s) of an earlier run")

        run_relay = options["relay"] == "yes" or (options["relay"] == "auto" and not settings.REDIS_URL)
        tasks: list[asyncio.Task] = []
        self._tell_access()

        def ready() -> None:
            # Everything loaded so far (Django, the URL conf, the models) lives as long as the
            # process: keep it out of the cyclic collector, whose full passes over a process
            # holding many tab sockets otherwise take hundreds of milliseconds.
            gc.freeze()
            if run_relay:
                tasks.append(asyncio.get_event_loop().create_task(Relay(role="web").run()))
            self.stdout.write(
                f"ComfyWeb listening on http://{options['host']}:{options['port']}/"
                f" (relay {'in process' if run_relay else 'separate'})"
            )
            if comfyui_port is not None:
                anonymous = (
                    "a person's API token needed"
                    if settings.COMFYWEB_ACCESS == "accounts"
                    else "anonymous callers allowed"
                    if settings.COMFYWEB_COMFYUI_ANONYMOUS
                    else "API tokens only"
                )
                self.stdout.write(
                    f"ComfyUI-compatible endpoint on http://{options['host']}:{comfyui_port}/ ({anonymous})"
                )
            self.stdout.flush()

        endpoints = [f"tcp:port={options['port']}:interface={options['host']}"]
        if comfyui_port is not None:  # the same process: routed by port (comfyweb.ports)
            endpoints.append(f"tcp:port={comfyui_port}:interface={options['host']}")
        daphne_requests.install()  # no second parse of every upload's body by Twisted
        if options["stop_with_parent"]:
            lifetime.stop_when_parent_exits(parent)
        DaphneServer(
            application=PortRouter(ASGIStaticFilesHandler(app), comfyui, comfyui_port),
            endpoints=endpoints,
            ready_callable=ready,
            signal_handlers=True,
        ).run()

    def _tell_access(self) -> None:
        """Say the access mode, and in accounts mode how to make the first staff account."""
        from django.contrib.auth import get_user_model

        if settings.COMFYWEB_ACCESS != "accounts":
            self.stdout.write("access: open (no sign-in; each browser session owns its jobs)")
            return
        signup = "open sign-up" if settings.COMFYWEB_OPEN_SIGNUP else "sign-up by invitation"
        self.stdout.write(f"access: accounts ({signup}; invitations in the admin)")
        if not get_user_model().objects.filter(is_superuser=True).exists():
            self.stdout.write(
                "no staff account yet: create one with `.venv/bin/python manage.py createsuperuser`"
            )

    def _start_simulators(self, count: int, delay: float, register_named) -> list[str]:
        """Start `count` simulators as child processes; returns their names."""
        from jobs.core.builtin_workflows import DEMO_LOAD_SECONDS, DEMO_MODELS, DEMO_PROFILES, DEMO_VRAM
        from jobs.management.simulators import free_port, start_simulator

        processes = []
        names = []
        for number in range(1, count + 1):
            port = free_port()
            name = f"sim-{number}"
            processes.append(
                start_simulator(
                    port,
                    settings.DATA_DIR / "simulators" / name,
                    delay=delay,
                    name=name,
                    models=DEMO_MODELS.get(name),
                    vram=DEMO_VRAM,
                    load_seconds=DEMO_LOAD_SECONDS,
                    profile=DEMO_PROFILES.get(name, "0.3.64"),
                    ends_with_caller=True,
                )
            )
            register_named(name, f"http://127.0.0.1:{port}")
            names.append(name)
            self.stdout.write(f"started simulated ComfyUI {name} on http://127.0.0.1:{port}")

        def stop() -> None:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(5)
                except Exception:
                    process.kill()

        atexit.register(stop)
        return names


def _check_port_free(host: str, port: int, what: str = "PORT") -> None:
    """Refuse to start on a taken port. Daphne only logs its listen failure and the process
    lives on without serving (its simulators and relay running for nothing)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Twisted listens
        try:
            probe.bind((host, port))
        except OSError as error:
            raise CommandError(
                f"Cannot serve on {host}:{port}: {error.strerror}. Is ComfyWeb already running? "
                f"Stop it, or choose another port (make run {what}={port + 1})."
            ) from None
