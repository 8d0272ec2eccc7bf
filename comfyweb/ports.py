"""Route by the port a connection arrived on: the ComfyUI port to its own app.

Daphne serves several endpoints from one process and puts the local (host, port) in every
scope's `server`; a connection on COMFYWEB_COMFYUI_PORT goes to the ComfyUI-compatible app,
every other one to the main app. Without that port (None) everything is the main app's.
"""

from __future__ import annotations

from typing import Any


class PortRouter:
    def __init__(self, main: Any, comfyui: Any, port: int | None) -> None:
        self.main, self.comfyui, self.port = main, comfyui, port

    def app_for(self, scope: dict[str, Any]) -> Any:
        server = scope.get("server")
        on_port = server is not None and len(server) > 1 and server[1] == self.port
        if self.port is not None and scope["type"] in ("http", "websocket") and on_port:
            return self.comfyui
        return self.main

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app_for(scope)(scope, receive, send)
