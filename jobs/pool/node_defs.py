"""The pool's node definitions: each server's /object_info, and their union as one server.

Whole graphs from ComfyUI clients (jobs.comfyapi) are checked against these before they are
accepted (jobs.pool.graph_check), and the endpoint's own /object_info is their union.

A server's definitions are stored with its upload combos emptied: `LoadImage.image` and the
like list the server's input folder, which holds the files ComfyWeb uploaded for other
people's jobs; a caller is shown, and may name, only its own uploads. In the union a model
combo offers the files of every server (any one of them may run the job: placement then
picks one that has the file), and a node is described as the first server that has it
describes it, servers taken oldest version first.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from jobs.pool.inventory import combo_choices, is_upload


def _combo_specs(entry: Mapping[str, Any]) -> Iterable[tuple[str, str, list[Any]]]:
    """(section, input name, spec) of each combo input of one node's definition."""
    inputs = entry.get("input")
    if not isinstance(inputs, Mapping):
        return
    for section in ("required", "optional"):
        specs = inputs.get(section)
        if not isinstance(specs, Mapping):
            continue
        for name, spec in specs.items():
            if combo_choices(spec) is not None:
                yield section, str(name), spec


def _with_choices(spec: list[Any], choices: list[str]) -> list[Any]:
    """The combo spec with other choices, in the shape it came in (classic or V3 COMBO)."""
    options = dict(spec[1]) if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
    if spec and spec[0] == "COMBO":
        return ["COMBO", {**options, "options": choices}]
    return [choices, options] if len(spec) > 1 else [choices]


def definitions(info: Mapping[str, Any]) -> dict[str, Any]:
    """One server's /object_info as stored: upload combos emptied, anything malformed left out."""
    found: dict[str, Any] = {}
    for class_type, entry in info.items():
        if not isinstance(entry, Mapping):
            continue
        entry = copy.deepcopy(dict(entry))
        for section, name, spec in list(_combo_specs(entry)):
            combo = combo_choices(spec)
            if combo is not None and is_upload(combo[1]):
                entry["input"][section][name] = _with_choices(spec, [])
        found[str(class_type)] = entry
    return found


def union(servers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The definitions of several servers as one server's: every class any of them has, with
    each model combo listing the files of every server that has the class."""
    merged: dict[str, Any] = {}
    for info in servers:
        for class_type, entry in info.items():
            if not isinstance(entry, Mapping):
                continue
            if class_type not in merged:
                merged[class_type] = copy.deepcopy(dict(entry))
                continue
            mine = merged[class_type]
            for section, name, spec in _combo_specs(entry):
                theirs = mine.get("input", {}).get(section, {}).get(name)
                ours, extra = combo_choices(theirs) or ([], {}), combo_choices(spec)
                if extra is None or is_upload(extra[1]) or theirs is None:
                    continue
                choices = list(dict.fromkeys([*ours[0], *extra[0]]))
                mine["input"][section][name] = _with_choices(theirs, choices)
    return merged


def with_uploads(defs: Mapping[str, Any], uploads: list[str]) -> dict[str, Any]:
    """The definitions with every upload combo listing `uploads` (the caller's own files)."""
    shown = dict(defs)
    for class_type, entry in defs.items():
        if not isinstance(entry, Mapping):
            continue
        for section, name, spec in list(_combo_specs(entry)):
            combo = combo_choices(spec)
            if combo is not None and is_upload(combo[1]):
                if shown[class_type] is entry:
                    shown[class_type] = entry = copy.deepcopy(dict(entry))
                entry["input"][section][name] = _with_choices(spec, list(uploads))
    return shown
