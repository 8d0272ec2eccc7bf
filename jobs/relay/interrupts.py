"""Whether a server can interrupt one prompt by its id (SPEC §2.7).

ComfyUI's `POST /interrupt {"prompt_id": X}` interrupts only if X is the prompt running now
(server.py post_interrupt; PROTOCOL.md §1, trace 07). Older servers ignore the body and
interrupt whatever runs, so the body alone is not safe: the version decides. There is no
side-effect-free probe (an old server would interrupt someone else's prompt), so only
versions seen to honour it in the recorded traces count as supporting it.
"""

from __future__ import annotations

import re

TARGETED_SINCE = (0, 3, 64)


def parse_version(text: str) -> tuple[int, ...] | None:
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text.strip())
    return tuple(int(part) for part in match.groups()) if match else None


def supports_targeted_interrupt(version: str) -> bool:
    parsed = parse_version(version or "")
    return parsed is not None and parsed >= TARGETED_SINCE
