"""Import a workflow exported from ComfyUI with "Export (API)": check it, propose parameters.

Plain functions, no Django: `analyze` parses and validates the file, then proposes the
parameters a user would set (the image, the positive and negative prompt, the seed, steps,
sizes…), typed and bounded from a server's /object_info when one is given, else from the
built-in table in `jobs.operators.importer_rules`. The format and its traps are described in the
tests/fixtures/comfyui/workflows/README.md; every file there is a test case.

Model inputs (a checkpoint, a LoRA…) are proposed unticked, as a choice among the files the
pool offers (`PoolModels`); with the pool's files given, a model of the graph that no server
lists is a warning, never a refusal: models get copied onto servers later.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jobs.core.workflows import PARAM_TYPES, SEED_MAX, UPLOAD_TYPES, ParamError, clean_value
from jobs.operators.importer_rules import (
    CONDITIONING_SINKS,
    LABELS,
    NEUTRAL_VALUES,
    OUTPUT_CLASSES,
    RULES,
    Rule,
    model_kind,
)
from jobs.pool.inventory import is_model_input, model_key
from jobs.pool.requirements import of_workflow

MAX_BYTES = 5 * 1024 * 1024
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
ObjectInfo = Mapping[str, Mapping[str, Any]]


class GraphError(ValueError):
    """The file is not a usable API-format workflow; `problems` lists every reason found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class PoolModels:
    """The model files the pool offers per model input ("Class.input" → files): the union
    over enabled servers' inventories (and a server's live /object_info when one was read).
    `known_keys`: model inputs some inventory lists beyond the loaders ComfyWeb knows."""

    files: Mapping[str, frozenset[str]] = field(default_factory=dict)
    known_keys: frozenset[str] = frozenset()

    def offers(self, key: str, file: str) -> bool:
        return file in self.files.get(key, frozenset())

    @property
    def keys(self) -> frozenset[str]:
        return self.known_keys | frozenset(self.files)


@dataclass
class Proposal:
    """One proposed parameter: `param` is what Workflow.params stores."""

    param: dict[str, Any]
    include: bool = True
    title: str = ""
    class_type: str = ""
    note: str = ""


@dataclass
class Analysis:
    graph: dict[str, Any]
    proposals: list[Proposal] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # classes the chosen server lacks

    @property
    def params(self) -> list[dict[str, Any]]:
        return [p.param for p in self.proposals if p.include]


# --------------------------------------------------------------------------- parse + validate


def parse(data: str | bytes) -> dict[str, Any]:
    """The graph in `data`; raises GraphError for anything that is not an API-format graph."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise GraphError([f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB."])
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise GraphError(["The file is not UTF-8 text: export the workflow as JSON."]) from None
    try:
        graph = json.loads(data)
    except ValueError as error:
        raise GraphError([f"This is not JSON ({error})."]) from None
    validate(graph)
    return graph


def is_link(value: Any) -> bool:
    """`["4", 1]`: an output of another node (README: links are [source id, output index])."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def validate(graph: Any, object_info: ObjectInfo | None = None) -> None:
    """Raise GraphError listing every structural problem of an API-format graph."""
    wrapped = graph.get("workflow") if isinstance(graph, dict) else None
    if isinstance(graph, dict) and (
        ("nodes" in graph and "links" in graph) or (isinstance(wrapped, dict) and "nodes" in wrapped)
    ):
        raise GraphError(
            [
                "This is the editor format (it has nodes and links), not the API format: "
                "in ComfyUI use Workflow → Export (API) and import that file."
            ]
        )
    if not isinstance(graph, dict) or not graph:
        raise GraphError(["An API-format workflow is a JSON object of node id → node; this is not."])
    problems: list[str] = []
    for node_id, node in graph.items():
        if not isinstance(node, dict) or not isinstance(node.get("inputs", {}), dict):
            problems.append(f"Node {node_id} is not an object with inputs.")
            continue
        if not isinstance(node.get("class_type"), str) or not node["class_type"]:
            problems.append(f"Node {node_id} has no class_type: a custom node that is not installed?")
        for name, value in node.get("inputs", {}).items():
            if is_link(value) and value[0] not in graph:
                problems.append(f"Node {node_id} input {name} links to node {value[0]}, which is missing.")
    if not problems and not output_nodes(graph, object_info):
        problems.append(
            "The workflow has no output node (SaveImage, PreviewImage, SaveVideo…): it would produce nothing."
        )
    if problems:
        raise GraphError(problems)


def output_nodes(graph: Mapping[str, Any], object_info: ObjectInfo | None = None) -> list[str]:
    found = []
    for node_id, node in graph.items():
        cls = node.get("class_type")
        info = (object_info or {}).get(cls) if cls else None
        if cls in OUTPUT_CLASSES or (info and info.get("output_node")):
            found.append(node_id)
    return found


def missing_classes(graph: Mapping[str, Any], available: Iterable[str]) -> list[str]:
    """The classes the graph uses that a server does not have, sorted."""
    have = set(available)
    return sorted({n["class_type"] for n in graph.values() if n.get("class_type") not in have})


def title_of(node: Mapping[str, Any]) -> str:
    meta = node.get("_meta")
    title = meta.get("title") if isinstance(meta, dict) else None
    return title if isinstance(title, str) and title.strip() else str(node.get("class_type", ""))


# --------------------------------------------------------------------------- prompt roles


def _is_conditioning_input(name: str, spec: Any) -> bool:
    if isinstance(spec, list) and spec and isinstance(spec[0], str):
        return spec[0] == "CONDITIONING"
    return name in ("positive", "negative") or name.startswith(("conditioning", "cond"))


def _input_spec(object_info: ObjectInfo | None, cls: str, name: str) -> Any:
    info = (object_info or {}).get(cls)
    if not info:
        return None
    inputs = info.get("input") or {}
    for group in ("required", "optional"):
        spec = (inputs.get(group) or {}).get(name)
        if spec is not None:
            return spec
    return None


def prompt_roles(graph: Mapping[str, Any], object_info: ObjectInfo | None = None) -> dict[str, str]:
    """CLIPTextEncode node id → "positive" or "negative", found by following the samplers'
    and guiders' conditioning inputs back to the encoders (titles cannot tell them apart).

    A node that passes both through (ControlNetApplyAdvanced, InstructPixToPixConditioning,
    WanImageToVideo: inputs `positive` and `negative`, outputs 0 and 1) is followed per output
    index. An encoder reached as positive anywhere is positive.
    """
    roles: dict[str, str] = {}

    def follow(link: Any, role: str, seen: set[tuple[str, int]]) -> None:
        if not is_link(link) or tuple(link) in seen or link[0] not in graph:
            return
        seen.add(tuple(link))
        node_id, index = link
        node = graph[node_id]
        cls, inputs = node.get("class_type", ""), node.get("inputs", {})
        if cls == "CLIPTextEncode":
            if roles.get(node_id) != "positive":
                roles[node_id] = role
            return
        if cls in CONDITIONING_SINKS:  # a guider's output is not conditioning
            return
        if "positive" in inputs and "negative" in inputs and index in (0, 1):
            follow(inputs["positive" if index == 0 else "negative"], role, seen)
            return
        for name, value in inputs.items():
            if _is_conditioning_input(name, _input_spec(object_info, cls, name)):
                follow(value, role, seen)

    for node in graph.values():
        for name, role in CONDITIONING_SINKS.get(node.get("class_type", ""), {}).items():
            if role == "positive":
                follow(node.get("inputs", {}).get(name), role, set())
    for node in graph.values():
        for name, role in CONDITIONING_SINKS.get(node.get("class_type", ""), {}).items():
            if role == "negative":
                follow(node.get("inputs", {}).get(name), role, set())
    return roles


# --------------------------------------------------------------------------- proposals


def _spec_from_info(spec: Any) -> dict[str, Any]:
    """Type and bounds from one /object_info input spec: ["INT", {...}], [[choices]], ["COMBO", {options}]."""
    if not isinstance(spec, list) or not spec:
        return {}
    kind, options = spec[0], spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(kind, list):
        return {"type": "choice", "choices": list(kind)}
    if kind == "COMBO" and isinstance(options.get("options"), list):
        return {"type": "choice", "choices": list(options["options"])}
    found: dict[str, Any] = {}
    if kind in ("INT", "FLOAT"):
        found["type"] = "int" if kind == "INT" else "float"
        for key in ("min", "max", "step"):
            if isinstance(options.get(key), int | float) and math.isfinite(options[key]):
                found[key] = options[key]
    elif kind == "STRING":
        found["type"] = "text"
    return found


def _tidy_number(value: Any, kind: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if kind in ("int", "seed"):
        return int(value) if float(value).is_integer() else value
    # Float noise stored in the template (README: 0.8700000000000001) reads as the user meant it.
    return round(float(value), 10)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug if slug and not slug[0].isdigit() else f"p_{slug}"


def _humanize(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").capitalize()


def _propose_input(
    node_id: str,
    node: Mapping[str, Any],
    name: str,
    value: Any,
    rule: Rule,
    role: str | None,
    object_info: ObjectInfo | None,
) -> Proposal | None:
    cls, title = node["class_type"], title_of(node)
    info_spec = _spec_from_info(_input_spec(object_info, cls, name))
    kind = rule.kind
    if kind in ("int", "float", "choice", "text") and info_spec.get("type") in ("int", "float", "choice"):
        kind = info_spec["type"]
    param: dict[str, Any] = {"name": name, "type": kind, "node": node_id, "input": name}
    include, note = not rule.optional, ""
    if kind in UPLOAD_TYPES:  # image, mask, video, audio: the person uploads a file
        param["name"] = kind
        default_title = {
            "image": "Load Image",
            "mask": "Load Image (as Mask)",
            "video": "Load Video",
            "audio": "Load Audio",
        }
        param["label"] = title if title != default_title[kind] else kind.capitalize()
    elif kind == "seed":
        param["name"] = "seed"
        param["label"] = "Seed"
        param["default"] = _tidy_number(value, "seed")
        if isinstance(value, int) and not 0 <= value <= SEED_MAX:
            param["default"] = None
        if node.get("inputs", {}).get("add_noise") == "disable":
            include, note = False, "this sampler adds no noise, so its seed does nothing"
    elif cls == "CLIPTextEncode":
        param["name"] = role or "text"
        param["label"] = {"positive": "Prompt", "negative": "Negative prompt"}.get(role or "", title)
        param["default"] = value
        if role is None:
            note = "not connected to a sampler's positive or negative input"
    elif cls.startswith("Primitive"):
        param["name"] = _slug(title) if title != cls else "value"
        param["label"] = title
        param["default"] = _tidy_number(value, kind)
    else:
        param["label"] = _humanize(name)
        param["default"] = _tidy_number(value, kind)
    if kind in ("int", "float"):
        bounds = {**rule.bounds, **{k: v for k, v in info_spec.items() if k in ("min", "max", "step")}}
        for key in ("min", "max", "step"):
            if key in bounds:
                param[key] = bounds[key]
        default = param.get("default")
        if isinstance(default, int | float):
            if "min" in param and default < param["min"]:
                param["min"] = default
            if "max" in param and default > param["max"]:
                param["max"] = default
        if name in NEUTRAL_VALUES and default == NEUTRAL_VALUES[name]:
            include, note = False, f"{name} {default} has no effect here"
    elif kind == "choice":
        choices = info_spec.get("choices") or rule.bounds.get("choices") or []
        if value not in choices:
            choices = [value, *choices]
        param["choices"] = choices
    if ":" in node_id and include:  # README: flattened subgraph nodes, ids "<wrapper>:<inner>"
        include, note = False, "inside a subgraph"
    return Proposal(param=param, include=include, title=title, class_type=cls, note=note)


_KIND_ORDER = {
    "image": 0,
    "mask": 0,
    "video": 0,
    "audio": 0,
    "positive": 1,
    "negative": 2,
    "text": 3,
    "seed": 4,
}


def _propose_model(
    node_id: str,
    node: Mapping[str, Any],
    name: str,
    value: str,
    object_info: ObjectInfo | None,
    pool: PoolModels | None,
) -> Proposal:
    """A model input as a choice among the files the pool offers (plus the graph's own),
    unticked: the operator normally fixes the model (README of the workflow fixtures)."""
    cls = node["class_type"]
    key = model_key(cls, name)
    singular, _ = model_kind(key)
    if pool is not None:
        offered = set(pool.files.get(key, frozenset()))
    else:
        offered = set(_spec_from_info(_input_spec(object_info, cls, name)).get("choices") or [])
    choices = sorted(str(c) for c in offered if c != value)
    param = {
        "name": _slug(singular),
        "type": "choice",
        "node": node_id,
        "input": name,
        "label": singular,
        "default": value,
        "choices": [value, *choices],
    }
    note = f"a model file ({key}): if ticked, users choose among the files the pool offers"
    return Proposal(param=param, include=False, title=title_of(node), class_type=cls, note=note)


def propose(
    graph: Mapping[str, Any], object_info: ObjectInfo | None = None, pool: PoolModels | None = None
) -> list[Proposal]:
    """Proposed parameters, images and prompts first, with unique names."""
    roles = prompt_roles(graph, object_info)
    known_keys = pool.keys if pool is not None else frozenset()
    proposals: list[Proposal] = []
    for node_id, node in graph.items():
        cls = node.get("class_type", "")
        rules = RULES.get(cls, {})
        for name, value in node.get("inputs", {}).items():
            if is_link(value) or isinstance(value, dict):
                continue
            if isinstance(value, str) and value and is_model_input(cls, name, known_keys):
                proposals.append(_propose_model(node_id, node, name, value, object_info, pool))
                continue
            rule = rules.get(name)
            if rule is None:
                continue
            proposal = _propose_input(node_id, node, name, value, rule, roles.get(node_id), object_info)
            if proposal is not None:
                proposals.append(proposal)
    proposals.sort(key=lambda p: _KIND_ORDER.get(p.param["name"], 9))
    _unique_names(proposals)
    return proposals


def _unique_names(proposals: list[Proposal]) -> None:
    """Two CLIPTextEncode titled alike, both hiresfix samplers titled "KSampler": names differ.

    A clash is settled by the node title when titles tell the nodes apart, else by a number;
    ticked proposals keep the plain names.
    """
    groups: dict[str, list[Proposal]] = {}
    for proposal in proposals:
        groups.setdefault(proposal.param["name"], []).append(proposal)
    taken = {name for name, group in groups.items() if len(group) == 1}
    for base, group in groups.items():
        if len(group) == 1:
            continue
        group.sort(key=lambda p: not p.include)  # stable: graph order within ticked/unticked
        titles = [_slug(p.title) for p in group]
        by_title = len(set(titles)) == len(titles) and base not in ("positive", "negative", *UPLOAD_TYPES)
        shown = sum(p.include for p in group) > 1
        for number, (proposal, title) in enumerate(zip(group, titles, strict=True), start=1):
            candidate = base if number == 1 else (f"{base}_{title}" if by_title else f"{base}_{number}")
            suffix = number
            while candidate in taken:
                suffix += 1
                candidate = f"{base}_{suffix}"
            taken.add(candidate)
            proposal.param["name"] = candidate[:64]
            if number > 1:
                where = f"{proposal.title}, node {proposal.param['node']}"
                proposal.param["label"] = f"{proposal.param['label']} ({where})"
            elif shown and by_title:
                proposal.param["label"] = f"{proposal.param['label']} ({proposal.title})"


# --------------------------------------------------------------------------- all together


def models_on_no_server(graph: Mapping[str, Any], pool: PoolModels) -> list[str]:
    """A warning for each model file of the graph that no server of the pool lists."""
    warnings: list[str] = []
    seen: set[tuple[str, str]] = set()
    for model in of_workflow(graph, [], pool.keys)["models"]:
        key, file = model["key"], model["file"]
        if (key, file) in seen or pool.offers(key, file):
            continue
        seen.add((key, file))
        warnings.append(
            f"{file} ({key}) is on no server yet: "
            "jobs of this workflow will be refused until a server has it."
        )
    return warnings


def analyze(
    data: str | bytes | Mapping[str, Any],
    object_info: ObjectInfo | None = None,
    server_classes: Iterable[str] | None = None,
    server_name: str = "",
    pool: PoolModels | None = None,
) -> Analysis:
    """Parse, validate and propose; `server_classes` (with its name) adds the class check,
    `pool` (the files the pool offers) the model choices and the models-on-no-server check."""
    if isinstance(data, str | bytes):
        graph = parse(data)
    else:
        graph = dict(data)
        validate(graph)
    analysis = Analysis(graph=graph, proposals=propose(graph, object_info, pool))
    if server_classes is not None:
        analysis.missing = missing_classes(graph, server_classes)
        if analysis.missing:
            analysis.warnings.append(f"Server {server_name or '?'} lacks: {', '.join(analysis.missing)}")
    if pool is not None:
        analysis.warnings.extend(models_on_no_server(graph, pool))
    texts: dict[tuple[str, Any], str] = {}  # (name without its suffix, default text) -> first name
    for proposal in analysis.proposals:
        if proposal.class_type == "CLIPTextEncode" and proposal.include:
            key = (proposal.param["name"].rstrip("_0123456789"), proposal.param.get("default"))
            if key in texts:
                analysis.warnings.append(
                    f"{proposal.param['name']} (node {proposal.param['node']}) holds the same text as "
                    f"{texts[key]}: each parameter sets one input, so users fill in both."
                )
            else:
                texts[key] = proposal.param["name"]
    return analysis


def check_params(graph: Mapping[str, Any], params: list[dict[str, Any]]) -> list[str]:
    """Problems that would stop these parameters from working with this graph (empty: fine)."""
    problems: list[str] = []
    names: set[str] = set()
    bound: set[tuple[str, str]] = set()
    for param in params:
        name = str(param.get("name", ""))
        if not NAME_RE.match(name):
            problems.append(
                f"{name or '(empty)'}: a name is letters, digits and _, not starting with a digit."
            )
        if name in names:
            problems.append(f"{name}: two parameters have this name.")
        names.add(name)
        if param.get("type") not in PARAM_TYPES:
            problems.append(f"{name}: unknown type {param.get('type')!r}.")
            continue
        node_id, input_name = str(param.get("node", "")), str(param.get("input", ""))
        node = graph.get(node_id)
        if not isinstance(node, dict) or input_name not in node.get("inputs", {}):
            problems.append(f"{name}: node {node_id} has no input {input_name}.")
        elif is_link(node["inputs"][input_name]):
            problems.append(f"{name}: node {node_id} input {input_name} is a link, not a value.")
        if (node_id, input_name) in bound:
            problems.append(f"{name}: another parameter already sets node {node_id} input {input_name}.")
        bound.add((node_id, input_name))
        low, high = param.get("min"), param.get("max")
        if low is not None and high is not None and low > high:
            problems.append(f"{name}: min {low} is above max {high}.")
        if param["type"] == "choice" and not param.get("choices"):
            problems.append(f"{name}: a choice needs choices.")
        if param["type"] not in UPLOAD_TYPES and param.get("default") not in (None, ""):
            try:
                clean_value(param, param["default"])
            except ParamError as error:
                problems.append(f"default of {error}.")
    return problems
