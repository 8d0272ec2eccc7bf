"""Builds the aiohttp application of one simulated ComfyUI server."""

from __future__ import annotations

from aiohttp import web

from simulator import faults, flood, jobs_api, model_controls, routes
from simulator.config import SimConfig
from simulator.state import SIM, Simulator

MAX_UPLOAD_SIZE = 104857600


async def _start_worker(app: web.Application) -> None:
    app[SIM].executor.start()


async def _stop_worker(app: web.Application) -> None:
    sim = app[SIM]
    await sim.executor.stop()
    await sim.hub.close_all()


def create_app(config: SimConfig) -> web.Application:
    """The application; its worker starts with the app (AppRunner.setup / run_app)."""
    sim = Simulator(config)
    app = web.Application(
        client_max_size=MAX_UPLOAD_SIZE,
        middlewares=[jobs_api.record_calls(sim), faults.fault_middleware(sim)],
    )
    app[SIM] = sim
    table = routes.route_table(sim)
    # server.py registers every route twice: as is and under /api.
    api = web.RouteTableDef()
    for route in table:
        if isinstance(route, web.RouteDef):
            api.route(route.method, "/api" + route.path)(route.handler, **route.kwargs)
    app.add_routes(api)
    app.add_routes(table)
    if sim.profile.jobs_api:
        jobs_api.add_routes(app, sim)  # only under /api (and /api/api), not mirrored
    faults.add_routes(app, sim)
    flood.add_routes(app, sim)
    model_controls.add_routes(app, sim)
    jobs_api.add_sim_routes(app, sim)
    app.on_startup.append(_start_worker)
    app.on_shutdown.append(_stop_worker)
    return app
