"""POST /prompt validation, ported from ComfyUI 0.3.64 execution.py (validate_prompt).

The structure follows the original on purpose, quirks included, because clients see its
results: values are converted in place (the queued prompt holds the converted ones), an
exception in a linked node is filed under that node with the *caller's* input info, and
every failed output is appended to the dependent_outputs of every erroneous node seen so far.
"""

from __future__ import annotations

from typing import Any

from simulator.errors import exception_type_name, frame
from simulator.files import Storage
from simulator.models import ModelSet
from simulator.nodes import NODES
from simulator.object_info import input_types
from simulator.profiles import PROFILE_0364, Profile

Error = dict[str, Any]
Validated = dict[str, tuple[bool, list[Error], str]]

_LINE_RECURSE = ("/opt/ComfyUI/execution.py", 808, "validate_inputs")
_LINE_LOOKUP = ("/opt/ComfyUI/execution.py", 788, "validate_inputs")
_LINE_PROMPT = ("/opt/ComfyUI/execution.py", 1044, "validate_prompt")


class _LinkError(Exception):
    """An exception raised while following a link, with the frames it passed through."""

    def __init__(self, original: Exception, frames: list[str]) -> None:
        super().__init__(str(original))
        self.original = original
        self.frames = frames


def _input_info(class_inputs: dict[str, Any], name: str) -> tuple[Any, str | None, dict[str, Any]]:
    for category in ("required", "optional", "hidden"):
        if name in class_inputs.get(category, {}):
            spec = class_inputs[category][name]
            if category == "hidden":
                return spec, category, {}
            extra = spec[1] if len(spec) > 1 else {}
            return spec[0], category, extra
    return None, None, {}


def _link_target(prompt: dict[str, Any], value: list[Any]) -> tuple[str, str]:
    """(linked node id, received type); raises KeyError/IndexError like the original."""
    try:
        class_type = prompt[value[0]]["class_type"]
        return value[0], NODES[class_type].RETURN_TYPES[value[1]]
    except Exception as ex:
        raise _LinkError(ex, [frame(*_LINE_LOOKUP)]) from ex


def validate_node_input(received: Any, expected: Any) -> bool:
    if received == expected:
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    received_set = {t.strip() for t in received.split(",")}
    expected_set = {t.strip() for t in expected.split(",")}
    if "*" in received_set or "*" in expected_set:
        return True
    return len(received_set & expected_set) > 0


def validate_inputs(
    prompt: dict[str, Any],
    unique_id: str,
    validated: Validated,
    storage: Storage,
    models: ModelSet | None = None,
    visiting: list[str] | None = None,
) -> tuple[bool, list[Error], str]:
    """``visiting`` (the current profile's cycle check) is the path of node ids being
    validated; None validates as 0.3.64 did, without cycle detection."""
    if unique_id in validated:
        return validated[unique_id]
    if visiting is not None and unique_id in visiting:
        # execution.py validate_inputs (04e2a914): every node on the cycle gets the reason.
        path = [*visiting[visiting.index(unique_id) :], unique_id]
        cycle_nodes = list(dict.fromkeys(path))
        details = " -> ".join(f"{node_id} ({prompt[node_id]['class_type']})" for node_id in path)
        for node_id in cycle_nodes:
            validated[node_id] = (
                False,
                [
                    {
                        "type": "dependency_cycle",
                        "message": "Dependency cycle detected",
                        "details": details,
                        "extra_info": {"node_id": node_id, "cycle_nodes": cycle_nodes},
                    }
                ],
                node_id,
            )
        return validated[unique_id]
    inputs = prompt[unique_id]["inputs"]
    class_type = prompt[unique_id]["class_type"]
    node = NODES[class_type]()
    class_inputs = input_types(class_type, models)
    valid_inputs = [*class_inputs.get("required", {}), *class_inputs.get("optional", {})]
    errors: list[Error] = []
    valid = True

    for x in valid_inputs:
        input_type, category, extra_info = _input_info(class_inputs, x)
        if x not in inputs:
            if category == "required":
                errors.append(
                    {
                        "type": "required_input_missing",
                        "message": "Required input is missing",
                        "details": f"{x}",
                        "extra_info": {"input_name": x},
                    }
                )
            continue
        val = inputs[x]
        info = [input_type, extra_info]
        if isinstance(val, list):
            if len(val) != 2:
                errors.append(
                    {
                        "type": "bad_linked_input",
                        "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        "details": f"{x}",
                        "extra_info": {"input_name": x, "input_config": info, "received_value": val},
                    }
                )
                continue
            o_id, received_type = _link_target(prompt, val)
            if not validate_node_input(received_type, input_type):
                errors.append(
                    {
                        "type": "return_type_mismatch",
                        "message": "Return type mismatch between linked nodes",
                        "details": f"{x}, received_type({received_type}) mismatch input_type({input_type})",
                        "extra_info": {
                            "input_name": x,
                            "input_config": info,
                            "received_type": received_type,
                            "linked_node": val,
                        },
                    }
                )
                continue
            try:
                if visiting is None:
                    result = validate_inputs(prompt, o_id, validated, storage, models)
                else:
                    visiting.append(unique_id)
                    try:
                        result = validate_inputs(prompt, o_id, validated, storage, models, visiting)
                    finally:
                        visiting.pop()
                if result[0] is False:
                    valid = False
                    continue
            except _LinkError as ex:
                valid = False
                validated[o_id] = (False, [_inner_exception(x, info, val, ex)], o_id)
                continue
            except Exception as ex:
                valid = False
                wrapped = _LinkError(ex, [])
                validated[o_id] = (False, [_inner_exception(x, info, val, wrapped)], o_id)
                continue
        else:
            if isinstance(val, dict) and "__value__" in val:
                val = val["__value__"]
                inputs[x] = val
            try:
                converter = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}.get(
                    input_type if isinstance(input_type, str) else ""
                )
                if converter is not None:
                    val = converter(val)
                    inputs[x] = val
            except Exception as ex:
                errors.append(
                    {
                        "type": "invalid_input_type",
                        "message": f"Failed to convert an input value to a {input_type} value",
                        "details": f"{x}, {val}, {ex}",
                        "extra_info": {
                            "input_name": x,
                            "input_config": info,
                            "received_value": val,
                            "exception_message": str(ex),
                        },
                    }
                )
                continue
            if x in node.VALIDATE_INPUTS:
                continue
            range_error = _range_error(x, val, info, extra_info)
            if range_error is not None:
                errors.append(range_error)
                continue
            if isinstance(input_type, list) and val not in input_type:
                long_list = len(input_type) > 20
                errors.append(
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": f"{x}: '{val}' not in "
                        + (f"(list of length {len(input_type)})" if long_list else str(input_type)),
                        "extra_info": {
                            "input_name": x,
                            "input_config": None if long_list else info,
                            "received_value": val,
                        },
                    }
                )
                continue

    if node.VALIDATE_INPUTS:
        present = {name: inputs[name] for name in node.VALIDATE_INPUTS if name in inputs}
        if len(present) == len(node.VALIDATE_INPUTS):
            outcome = node.validate(storage, **present)
            if outcome is not True:
                for name in present:
                    details = name if outcome is False else f"{name} - {outcome}"
                    errors.append(
                        {
                            "type": "custom_validation_failed",
                            "message": "Custom validation failed for node",
                            "details": details,
                            "extra_info": {"input_name": name},
                        }
                    )

    ret = (False, errors, unique_id) if errors or valid is not True else (True, [], unique_id)
    if visiting is not None and unique_id in validated:
        # A cycle through this node already filed its reason here: join it (04e2a914).
        earlier = validated[unique_id]
        ret = (earlier[0] and ret[0], earlier[1] + [e for e in errors if e not in earlier[1]], unique_id)
    validated[unique_id] = ret
    return ret


def _range_error(x: str, val: Any, info: list[Any], extra_info: dict[str, Any]) -> Error | None:
    if "min" in extra_info and val < extra_info["min"]:
        kind, message = "value_smaller_than_min", f"Value {val} smaller than min of {extra_info['min']}"
    elif "max" in extra_info and val > extra_info["max"]:
        kind, message = "value_bigger_than_max", f"Value {val} bigger than max of {extra_info['max']}"
    else:
        return None
    return {
        "type": kind,
        "message": message,
        "details": f"{x}",
        "extra_info": {"input_name": x, "input_config": info, "received_value": val},
    }


def _inner_exception(x: str, info: list[Any], val: list[Any], ex: _LinkError) -> Error:
    return {
        "type": "exception_during_inner_validation",
        "message": "Exception when validating inner node",
        "details": str(ex.original),
        "extra_info": {
            "input_name": x,
            "input_config": info,
            "exception_message": str(ex.original),
            "exception_type": exception_type_name(ex.original),
            "traceback": [frame(*_LINE_RECURSE), *ex.frames],
            "linked_node": val,
        },
    }


def _invalid(message: str, node_id: str) -> tuple[bool, Error, list[str], dict[str, Any]]:
    error = {
        "type": "invalid_prompt",
        "message": message,
        "details": f"Node ID '#{node_id}'",
        "extra_info": {},
    }
    return False, error, [], {}


def _missing_node_type(prompt: dict[str, Any], node_id: str) -> tuple[bool, Error, list[str], dict[str, Any]]:
    """execution.py validate_prompt (04e2a914): the top-level missing_node_type."""
    node = prompt[node_id]
    meta = node.get("_meta", {})
    if "class_type" not in node:
        title = meta.get("title")
        message = (
            f"Node '{title or f'ID #{node_id}'}' has no class_type. "
            "The workflow may be corrupted or a custom node is missing."
        )
        class_type = None
    else:
        class_type = node["class_type"]
        title = meta.get("title", class_type)
        message = f"Node '{title}' not found. The custom node may not be installed."
    error = {
        "type": "missing_node_type",
        "message": message,
        "details": f"Node ID '#{node_id}'",
        "extra_info": {"node_id": node_id, "class_type": class_type, "node_title": title},
    }
    return False, error, [], {}


def validate_prompt(
    prompt: dict[str, Any],
    partial_targets: list[str] | None,
    storage: Storage,
    models: ModelSet | None = None,
    profile: Profile = PROFILE_0364,
) -> tuple[bool, Error | None, list[str], dict[str, Any]]:
    """(valid, error, outputs to execute, node_errors), as execution.validate_prompt."""
    outputs: list[str] = []
    for x in prompt:
        if "class_type" not in prompt[x]:
            if profile.missing_node_type:
                return _missing_node_type(prompt, x)
            return _invalid("Cannot execute because a node is missing the class_type property.", x)
        class_type = prompt[x]["class_type"]
        node_class = NODES.get(class_type) if isinstance(class_type, str) else None
        if node_class is None:
            if profile.missing_node_type:
                return _missing_node_type(prompt, x)
            return _invalid(f"Cannot execute because node {class_type} does not exist.", x)
        if node_class.OUTPUT_NODE and (partial_targets is None or x in partial_targets):
            outputs.append(x)
    if not outputs:
        error = {
            "type": "prompt_no_outputs",
            "message": "Prompt has no outputs",
            "details": "",
            "extra_info": {},
        }
        return False, error, [], {}

    good_outputs: list[str] = []
    failures: list[tuple[str, list[Error]]] = []
    node_errors: dict[str, Any] = {}
    validated: Validated = {}
    # The original iterates a set (hash order); the simulator uses prompt order.
    for o in outputs:
        try:
            visiting: list[str] | None = [] if profile.dependency_cycle else None
            valid, reasons, _ = validate_inputs(prompt, o, validated, storage, models, visiting)
        except Exception as ex:
            original = ex.original if isinstance(ex, _LinkError) else ex
            extra_frames = ex.frames if isinstance(ex, _LinkError) else []
            valid = False
            reasons = [
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": str(original),
                    "extra_info": {
                        "exception_type": exception_type_name(original),
                        "traceback": [frame(*_LINE_PROMPT), *extra_frames],
                    },
                }
            ]
            validated[o] = (False, reasons, o)
        if valid is True:
            good_outputs.append(o)
            continue
        failures.append((o, reasons))
        for node_id, (node_valid, node_reasons, _) in validated.items():
            if node_valid is not True and node_reasons:
                if node_id not in node_errors:
                    node_errors[node_id] = {
                        "errors": node_reasons,
                        "dependent_outputs": [],
                        "class_type": prompt[node_id]["class_type"],
                    }
                node_errors[node_id]["dependent_outputs"].append(o)

    if not good_outputs:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, errs in failures for e in errs)
        error = {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": details,
            "extra_info": {},
        }
        return False, error, [], node_errors
    return True, None, good_outputs, node_errors
