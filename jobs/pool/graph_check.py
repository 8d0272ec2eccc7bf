"""Whether a whole graph fits the pool's node definitions, answered as ComfyUI answers.

A ComfyUI client's graph (jobs.comfyapi) is checked before ComfyWeb accepts it, against the
union of the enabled servers' /object_info (jobs.pool.node_defs), so that a class, a type, a
range or a model no server has is refused at once with ComfyUI's own 400 body (PROTOCOL.md
§1, trace 04): `{"error": {"type", "message", "details", "extra_info"}, "node_errors": {...}}`.
The rules follow ComfyUI 0.3.64's `execution.validate_prompt` (as simulator/validation.py
ports it), working from definitions instead of node classes. Two differences, both safer:
a graph with any failing output is refused whole (ComfyUI would run the valid outputs and
still answer 200, a case clients miss: PROTOCOL.md §7.1), and an upload input (LoadImage's
`image`…) must name a file the caller uploaded to ComfyWeb.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from jobs.pool.inventory import combo_choices, is_upload

Error = dict[str, Any]
Outcome = tuple[bool, list[Error]]
CONVERTERS: dict[str, Any] = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


def _error(kind: str, message: str, details: str = "", **extra: Any) -> Error:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


def refusal(error: Error, node_errors: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """ComfyUI's 400 body for a refused prompt."""
    return {"error": error, "node_errors": dict(node_errors or {})}


def _input_spec(entry: Mapping[str, Any], name: str) -> tuple[Any, str | None, dict[str, Any]]:
    inputs = entry.get("input") if isinstance(entry.get("input"), Mapping) else {}
    for section in ("required", "optional"):
        specs = inputs.get(section) if isinstance(inputs, Mapping) else None
        if isinstance(specs, Mapping) and name in specs:
            spec = specs[name]
            if not isinstance(spec, list | tuple) or not spec:
                return None, section, {}
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
            combo = combo_choices(spec)
            return (combo[0] if combo else spec[0]), section, dict(options)
    return None, None, {}


def _types_match(received: Any, expected: Any) -> bool:
    if received == expected:
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    got = {t.strip() for t in received.split(",")}
    wanted = {t.strip() for t in expected.split(",")}
    return "*" in got or "*" in wanted or bool(got & wanted)


class _Checker:
    def __init__(self, prompt: Mapping[str, Any], defs: Mapping[str, Any], uploads: Collection[str]):
        self.prompt, self.defs, self.uploads = prompt, defs, uploads
        self.validated: dict[str, Outcome] = {}

    def node(self, node_id: str, path: tuple[str, ...] = ()) -> Outcome:
        if node_id in self.validated:
            return self.validated[node_id]
        if node_id in path:  # a cycle: ComfyUI's current release names it so
            found: Outcome = (False, [_error("dependency_cycle", "Dependency cycle detected", node_id)])
            self.validated[node_id] = found
            return found
        node = self.prompt[node_id]
        entry = self.defs[node["class_type"]]
        inputs = node.get("inputs") if isinstance(node.get("inputs"), Mapping) else {}
        errors: list[Error] = []
        valid = True
        spec_inputs = entry.get("input") if isinstance(entry.get("input"), Mapping) else {}
        names = [
            *(spec_inputs.get("required") or {}),
            *(spec_inputs.get("optional") or {}),
        ]
        for name in names:
            expected, section, options = _input_spec(entry, name)
            info = [expected, options]
            if name not in inputs:
                if section == "required":
                    errors.append(
                        _error("required_input_missing", "Required input is missing", name, input_name=name)
                    )
                continue
            value = inputs[name]
            if isinstance(value, list):
                if len(value) != 2:
                    errors.append(
                        _error(
                            "bad_linked_input",
                            "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                            name,
                            input_name=name,
                            input_config=info,
                            received_value=value,
                        )
                    )
                    continue
                linked = self._linked(name, info, value)
                if isinstance(linked, dict):
                    valid = False
                    self.validated[str(value[0])] = (False, [linked])
                    continue
                if not _types_match(linked, expected):
                    errors.append(
                        _error(
                            "return_type_mismatch",
                            "Return type mismatch between linked nodes",
                            f"{name}, received_type({linked}) mismatch input_type({expected})",
                            input_name=name,
                            input_config=info,
                            received_type=linked,
                            linked_node=value,
                        )
                    )
                    continue
                if not self.node(str(value[0]), (*path, node_id))[0]:
                    valid = False
                continue
            errors.extend(self._value(name, value, expected, options, info))
        outcome: Outcome = (not errors and valid, errors)
        self.validated[node_id] = outcome
        return outcome

    def _linked(self, name: str, info: list[Any], value: list[Any]) -> str | Error:
        """The type a link delivers, or the error of a link to nothing."""
        source = self.prompt.get(str(value[0]))
        try:
            if not isinstance(source, Mapping):
                raise KeyError(str(value[0]))
            outputs = self.defs[source["class_type"]].get("output") or []
            return str(outputs[int(value[1])])
        except (KeyError, IndexError, TypeError, ValueError) as ex:
            return _error(
                "exception_during_inner_validation",
                "Exception when validating inner node",
                str(ex),
                input_name=name,
                input_config=info,
                exception_message=str(ex),
                exception_type=type(ex).__name__,
                linked_node=value,
            )

    def _value(self, name: str, value: Any, expected: Any, options: dict[str, Any], info: list[Any]):
        converter = CONVERTERS.get(expected) if isinstance(expected, str) else None
        if converter is not None:
            try:
                if isinstance(value, dict | list) or value is None:
                    raise ValueError(f"unsupported value {value!r}")
                value = converter(value)
            except (ValueError, TypeError, OverflowError) as ex:
                yield _error(
                    "invalid_input_type",
                    f"Failed to convert an input value to a {expected} value",
                    f"{name}, {value}, {ex}",
                    input_name=name,
                    input_config=info,
                    received_value=value,
                    exception_message=str(ex),
                )
                return
        if is_upload(options):
            if str(value).removesuffix(" [input]") not in self.uploads:
                yield _error(
                    "custom_validation_failed",
                    "Custom validation failed for node",
                    f"{name} - Invalid image file: {value}",
                    input_name=name,
                )
            return
        if isinstance(value, int | float) and not isinstance(value, bool):
            low, high = options.get("min"), options.get("max")
            if isinstance(low, int | float) and value < low:
                yield _error(
                    "value_smaller_than_min",
                    f"Value {value} smaller than min of {low}",
                    name,
                    input_name=name,
                    input_config=info,
                    received_value=value,
                )
                return
            if isinstance(high, int | float) and value > high:
                yield _error(
                    "value_bigger_than_max",
                    f"Value {value} bigger than max of {high}",
                    name,
                    input_name=name,
                    input_config=info,
                    received_value=value,
                )
                return
        if isinstance(expected, list) and value not in expected:
            long_list = len(expected) > 20
            shown = f"(list of length {len(expected)})" if long_list else str(expected)
            yield _error(
                "value_not_in_list",
                "Value not in list",
                f"{name}: '{value}' not in {shown}",
                input_name=name,
                input_config=None if long_list else info,
                received_value=value,
            )


def check(
    prompt: Any, defs: Mapping[str, Any], uploads: Collection[str] = ()
) -> tuple[dict[str, Any] | None, list[str]]:
    """(ComfyUI's 400 body or None, the output nodes) for a graph against the definitions."""
    if not isinstance(prompt, Mapping) or not prompt:
        error = _error("prompt_no_outputs", "Prompt has no outputs")
        return refusal(error), []
    outputs: list[str] = []
    for node_id, node in prompt.items():
        if not isinstance(node, Mapping) or "class_type" not in node:
            message = "Cannot execute because a node is missing the class_type property."
            return refusal(_error("invalid_prompt", message, f"Node ID '#{node_id}'")), []
        class_type = node["class_type"]
        if not isinstance(class_type, str) or not isinstance(defs.get(class_type), Mapping):
            message = f"Cannot execute because node {class_type} does not exist."
            return refusal(_error("invalid_prompt", message, f"Node ID '#{node_id}'")), []
        if defs[class_type].get("output_node"):
            outputs.append(str(node_id))
    if not outputs:
        return refusal(_error("prompt_no_outputs", "Prompt has no outputs")), []
    checker = _Checker({str(k): v for k, v in prompt.items()}, defs, set(uploads))
    node_errors: dict[str, Any] = {}
    failures: list[Error] = []
    for output in outputs:
        valid, reasons = checker.node(output)
        if valid:
            continue
        failures.extend(reasons)
        for node_id, (node_valid, node_reasons) in checker.validated.items():
            if node_valid or not node_reasons:
                continue
            entry = node_errors.setdefault(
                node_id,
                {
                    "errors": node_reasons,
                    "dependent_outputs": [],
                    "class_type": checker.prompt[node_id]["class_type"]
                    if isinstance(checker.prompt.get(node_id), Mapping)
                    else None,
                },
            )
            entry["dependent_outputs"].append(output)
    if node_errors or failures:
        details = "\n".join(
            f"{e['message']}: {e['details']}" for n in node_errors.values() for e in n["errors"]
        )
        error = _error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)
        return refusal(error, node_errors), outputs
    return None, outputs
