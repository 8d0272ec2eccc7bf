"""Workflow parameters: validate what a user sent, then bind it into the ComfyUI graph.

Values are checked against their declared type and bounds before anything reaches a
server, so that a bad value is a clear 400 for the user rather than a ComfyUI error later.
"""

from __future__ import annotations

import copy
import math
import random
import uuid
from collections.abc import Callable, Mapping
from typing import Any

PARAM_TYPES = ("image", "mask", "video", "audio", "text", "int", "float", "seed", "choice")
# Parameters valued with an upload's id; the file goes to the attempt's server before the prompt.
UPLOAD_TYPES = ("image", "mask", "video", "audio")
# The media of an upload each such parameter takes (LoadAudio reads the sound of a video too).
UPLOAD_MEDIA = {"image": ("image",), "mask": ("image",), "video": ("video",), "audio": ("audio", "video")}
SEED_MAX = 2**53 - 1


class ParamError(ValueError):
    """A parameter value is missing or invalid; `field` names it for the form."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def public_params(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parameter list users see: everything but where it binds in the graph."""
    hidden = {"node", "input", "model"}
    return [{k: v for k, v in p.items() if k not in hidden} for p in params]


def _number(field: str, value: Any, *, integer: bool) -> int | float:
    if isinstance(value, bool) or value is None:
        raise ParamError(field, "must be a number")
    if isinstance(value, str):
        try:
            value = float(value) if not integer else int(value.strip())
        except ValueError:
            raise ParamError(field, "must be a number") from None
    if not isinstance(value, int | float) or (isinstance(value, float) and not math.isfinite(value)):
        raise ParamError(field, "must be a number")
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise ParamError(field, "must be a whole number")
            value = int(value)
        return value
    return float(value)


def _check_bounds(field: str, value: int | float, spec: Mapping[str, Any]) -> None:
    low, high = spec.get("min"), spec.get("max")
    if low is not None and value < low:
        raise ParamError(field, f"must be at least {low}")
    if high is not None and value > high:
        raise ParamError(field, f"must be at most {high}")


def clean_value(spec: Mapping[str, Any], value: Any) -> Any:
    """One parameter's value, converted and checked; raises ParamError."""
    field, kind = spec["name"], spec["type"]
    if kind in UPLOAD_TYPES:
        try:
            return str(uuid.UUID(str(value)))
        except (ValueError, TypeError, AttributeError):
            what = "image" if kind == "mask" else kind
            raise ParamError(field, f"must be the id of an uploaded {what}") from None
    if kind == "text":
        if not isinstance(value, str):
            raise ParamError(field, "must be text")
        if len(value) > 10_000:
            raise ParamError(field, "is too long (10,000 characters at most)")
        return value
    if kind in ("int", "seed"):
        number = _number(field, value, integer=True)
        bounds = spec if kind == "int" else {"min": 0, "max": SEED_MAX, **spec}
        _check_bounds(field, number, bounds)
        return number
    if kind == "float":
        number = _number(field, value, integer=False)
        _check_bounds(field, number, spec)
        return number
    if kind == "choice" and spec.get("model"):
        # A model file: the pool decides whether any server has it (jobs.pool.placement),
        # so that the refusal names the file rather than listing today's choices.
        if not isinstance(value, str) or not value or len(value) > 500:
            raise ParamError(field, "must be the name of a model file")
        return value
    if kind == "choice":
        choices = spec.get("choices") or []
        if value not in choices:
            raise ParamError(field, f"must be one of {', '.join(map(str, choices))}")
        return value
    raise ParamError(field, f"has an unknown type {kind!r}")


def with_model_choices(
    specs: list[dict[str, Any]], param_models: Mapping[str, str], offered: Callable[[str], list[str]]
) -> list[dict[str, Any]]:
    """The parameters, each bound to a model input (`param_models`: name → "Class.input")
    marked `model` with the files the pool offers as its choices (the union over enabled
    servers, never a server's path or URL); the stored choices when the pool lists none."""
    marked = []
    for spec in specs:
        key = param_models.get(spec["name"])
        if key is not None and spec.get("type") == "choice":
            spec = {**spec, "model": key, "choices": offered(key) or list(spec.get("choices") or [])}
        marked.append(spec)
    return marked


def clean_params(specs: list[dict[str, Any]], given: Mapping[str, Any]) -> dict[str, Any]:
    """All parameters of a workflow: defaults filled in, unknown names refused."""
    if not isinstance(given, Mapping):
        raise ParamError("params", "must be an object")
    known = {spec["name"] for spec in specs}
    for name in given:
        if name not in known:
            raise ParamError(str(name), "is not a parameter of this workflow")
    cleaned: dict[str, Any] = {}
    for spec in specs:
        name = spec["name"]
        if name in given and given[name] is not None and given[name] != "":
            cleaned[name] = clean_value(spec, given[name])
        elif spec["type"] == "seed":
            cleaned[name] = random.randint(0, SEED_MAX)
        elif spec.get("default") is not None:
            cleaned[name] = clean_value(spec, spec["default"])
        else:
            raise ParamError(name, "is required")
    return cleaned


def upload_params(specs: list[dict[str, Any]], values: Mapping[str, Any]) -> dict[str, str]:
    """Parameter name → upload id, for the inputs that must be uploaded to the server."""
    return {s["name"]: values[s["name"]] for s in specs if s["type"] in UPLOAD_TYPES}


def build_prompt(
    graph: Mapping[str, Any],
    specs: list[dict[str, Any]],
    values: Mapping[str, Any],
    uploaded_names: Mapping[str, str],
) -> dict[str, Any]:
    """The API-format prompt to queue: the graph with every parameter bound to its input.

    `uploaded_names` maps upload parameter names to the name the *attempt's* server returned
    from /upload/image (which may differ from the name sent: PROTOCOL.md §1).
    """
    prompt = copy.deepcopy(dict(graph))
    for spec in specs:
        node = prompt.get(str(spec["node"]))
        if node is None:
            raise ParamError(spec["name"], f"is bound to node {spec['node']}, which is not in the graph")
        value = uploaded_names[spec["name"]] if spec["type"] in UPLOAD_TYPES else values[spec["name"]]
        node.setdefault("inputs", {})[spec["input"]] = value
    return prompt


def count_nodes(graph: Mapping[str, Any]) -> int:
    return len(graph)
