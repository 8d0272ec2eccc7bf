"""A server that lacks a model file its inventory listed: how to tell, from what it said.

A real ComfyUI 0.3.64 says so in one of two ways (tests/fixtures/comfyui/object_info):
a classic loader (CheckpointLoaderSimple) is refused at POST /prompt with 400 and a
`value_not_in_list` node error on the model input; a V3-schema loader (UpscaleModelLoader,
whose combo is `["COMBO", {"options": …}]`) is accepted and fails at execution with
`FileNotFoundError: Model in folder 'upscale_models' with filename '…' not found.`

Both mean "the inventory was stale", not "the job is broken": the watcher re-reads the
server's inventory and, when the fresh one no longer lists the file, places the job again
without spending an attempt (jobs.core.attempts.unbind). When it still lists the file, the
failure is the file's own and counts, so no job loops.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jobs.pool.inventory import KNOWN_MODEL_INPUTS, Inventory, is_model_input, model_key

# (model input key, or "" when the error does not say which input; file)
Missing = tuple[str, str]

_NOT_FOUND = re.compile(r"Model in folder '[^']*' with filename '(?P<file>[^']+)' not found")


def in_rejection(node_errors: Mapping[str, Any], inventory: Inventory | None) -> list[Missing]:
    """Model files a 400 from POST /prompt says the server lacks (value_not_in_list on a
    model input). Empty when the refusal is about anything else."""
    known = inventory.models.keys() if inventory is not None else ()
    found: list[Missing] = []
    for entry in node_errors.values():
        if not isinstance(entry, Mapping):
            continue
        class_type = str(entry.get("class_type", ""))
        for error in entry.get("errors") or []:
            if not isinstance(error, Mapping) or error.get("type") != "value_not_in_list":
                continue
            extra = error.get("extra_info")
            extra = extra if isinstance(extra, Mapping) else {}
            name, value = str(extra.get("input_name", "")), extra.get("received_value")
            if isinstance(value, str) and is_model_input(class_type, name, known):
                found.append((model_key(class_type, name), value))
    return found


def in_execution_error(message: Mapping[str, Any] | None) -> list[Missing]:
    """The model file an execution_error says is not found (a V3 loader's way)."""
    if not message or message.get("exception_type") not in (
        "FileNotFoundError",
        "builtins.FileNotFoundError",
    ):
        return []
    match = _NOT_FOUND.search(str(message.get("exception_message", "")))
    if match is None:
        return []
    inputs = KNOWN_MODEL_INPUTS.get(str(message.get("node_type", "")), ())
    key = model_key(str(message.get("node_type")), inputs[0]) if len(inputs) == 1 else ""
    return [(key, match.group("file"))]


def still_listed(inventory: Inventory | None, missing: list[Missing]) -> bool:
    """The fresh inventory lists one of the files after all: the file itself is broken."""
    if inventory is None:
        return False
    return any(inventory.has_model(key, file) if key else file in inventory.files() for key, file in missing)


def missing_node(error: Mapping[str, Any]) -> str | None:
    """The node class a current server's 400 `missing_node_type` names (0.3.64 sends
    `invalid_prompt` for it, which stays the job's own error: docs/comfyui-versions.md §4)."""
    if error.get("type") != "missing_node_type":
        return None
    extra = error.get("extra_info")
    class_type = extra.get("class_type") if isinstance(extra, Mapping) else None
    return class_type if isinstance(class_type, str) and class_type else None
