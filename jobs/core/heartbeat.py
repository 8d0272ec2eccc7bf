"""Whether a relay runs in this process, and when it last made its pass.

The relay writes it and /healthz reads it; it lives apart from both so that the web side
reads the relay's state without importing the relay.
"""

from __future__ import annotations

from typing import Any

STATE: dict[str, Any] = {"running": False, "last_poll": None}
