"""JSON from a ComfyUI server, read with orjson where it can.

Every frame of every prompt and every answer is parsed here; orjson reads them several times
faster than the standard library (issue Y). What orjson refuses and Python's json accepts (a
server written in Python may send `NaN` or `Infinity`, and integers past 64 bits) is read by
the standard library, so a frame is never lost to the faster parser; what neither reads
raises ValueError (json.JSONDecodeError), as before.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(text: str | bytes | bytearray | memoryview) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(bytes(text) if isinstance(text, memoryview) else text)
