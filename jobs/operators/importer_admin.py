"""The admin's side of the workflow importer: where node definitions come from, and the forms.

Node definitions: the operator picks a server; its /object_info is fetched live (types,
bounds, choices and the class check). When it does not answer, the classes it reported
last (Server.node_classes, filled by the relay) are used for the class check, and the
built-in table (jobs.operators.importer_rules) for bounds. With no server chosen, only the table.

`read` and `save` are the import itself, shared by the admin's pages and
`manage.py import_workflow`: the model files the pool offers come from the enabled servers'
inventories (and the chosen server's live answer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.forms import formset_factory
from django.utils.text import slugify

from jobs.core.models import Server, Workflow, model_input_keys
from jobs.core.workflows import PARAM_TYPES
from jobs.operators import importer, pool_actions
from jobs.pool.inventory import Inventory, parse_object_info


@dataclass
class NodeSource:
    server_name: str = ""
    object_info: dict[str, Any] | None = None
    classes: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    inventory: Inventory | None = None  # read live from the server's /object_info just now


def node_source(server: Server | None) -> NodeSource:
    if server is None:
        return NodeSource(
            notes=["No server chosen: bounds come from the built-in table; classes not checked."]
        )
    try:
        info = pool_actions.fetch_object_info(server.url)
    except pool_actions.ProbeFailed as error:
        stored = server.node_classes
        classes = [str(c) for c in stored] if isinstance(stored, dict | list) and stored else None
        infos = (
            stored if isinstance(stored, dict) and all(isinstance(v, dict) for v in stored.values()) else None
        )
        checked = "checked against the classes it reported last" if classes else "node classes not checked"
        return NodeSource(
            server.name,
            infos or None,
            classes,
            [f"{server.name} did not answer ({error}): {checked}; bounds from the built-in table."],
        )
    return NodeSource(
        server.name,
        info,
        list(info),
        [f"Types and bounds from {server.name}'s /object_info ({len(info)} classes)."],
        parse_object_info(info) if server.enabled else None,
    )


def pool_models(source: NodeSource | None = None) -> importer.PoolModels:
    """The model files enabled servers list (their last inventories), with what the chosen
    server answered just now."""
    files: dict[str, set[str]] = {}
    for stored in (
        Server.objects.filter(enabled=True).exclude(model_files=None).values_list("model_files", flat=True)
    ):
        if isinstance(stored, dict):
            for key, listed in stored.items():
                if isinstance(listed, list):
                    files.setdefault(str(key), set()).update(str(f) for f in listed)
    if source is not None and source.inventory is not None:
        for key, listed in source.inventory.models.items():
            files.setdefault(key, set()).update(listed)
    return importer.PoolModels(
        {key: frozenset(found) for key, found in files.items()}, frozenset(model_input_keys())
    )


@dataclass
class Reading:
    """A workflow file read for import: the analysis, and where its node definitions came from."""

    analysis: importer.Analysis
    source_notes: list[str]

    @property
    def warnings(self) -> list[str]:
        """Classes the server lacks, models on no server, prompts set twice."""
        return self.analysis.warnings

    @property
    def notes(self) -> list[str]:
        """Everything the review shows above the proposals."""
        return [*self.source_notes, *self.analysis.warnings]


def read(raw: str | bytes, server: Server | None) -> Reading:
    """Analyze an exported file against `server`'s node definitions and the pool's models;
    raises importer.GraphError when the file itself is refused."""
    source = node_source(server)
    pool = pool_models(source)
    analysis = importer.analyze(raw, source.object_info, source.classes, source.server_name, pool)
    return Reading(analysis, source.notes)


def names_for(filename: str) -> tuple[str, str]:
    """The name and slug an upload of this file starts with: "default-txt2img.api.json" →
    ("default-txt2img", "default-txt2img")."""
    name = Path(filename).name.removesuffix(".json").removesuffix(".api") or "Imported workflow"
    return name, slugify(name)[:64] or "imported-workflow"


def default_params(analysis: importer.Analysis) -> list[dict[str, Any]]:
    """The parameters the review saves when the operator changes nothing: the ticked
    proposals, through the review's own form conversion."""
    return [form_to_param(param_to_initial(p)) for p in analysis.proposals if p.include]


def save(
    slug: str, name: str, description: str, graph: dict[str, Any], params: list[dict[str, Any]]
) -> tuple[Workflow, bool]:
    """Create the workflow, or update the one with this slug in place; (workflow, created).

    An update keeps what the file does not say: whether it is enabled, and its description
    when none is given."""
    workflow = Workflow.objects.filter(slug=slug).first()
    if workflow is None:
        workflow = Workflow.objects.create(
            slug=slug, name=name, description=description, graph=graph, params=params
        )
        return workflow, True
    workflow.name, workflow.graph, workflow.params = name, graph, params
    if description:
        workflow.description = description
    workflow.save()
    return workflow, False


class UploadForm(forms.Form):
    file = forms.FileField(required=False, label="API-format JSON file")
    text = forms.CharField(
        required=False,
        label="…or paste the JSON",
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80, "spellcheck": "false"}),
    )
    server = forms.ModelChoiceField(
        Server.objects.filter(enabled=True),
        required=False,
        empty_label="(none: built-in bounds, no class check)",
        help_text="Bounds and choices come from this server's /object_info; its node classes are checked.",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        upload = data.get("file")
        if upload:
            if upload.size > importer.MAX_BYTES:
                raise ValidationError("The file is larger than 5 MB.")
            data["raw"] = upload.read()
        elif data.get("text", "").strip():
            data["raw"] = data["text"]
        else:
            raise ValidationError("Choose a file or paste the JSON of an API-format workflow.")
        return data


class ReviewForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=64)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))
    graph = forms.CharField(widget=forms.HiddenInput)
    notes = forms.CharField(widget=forms.HiddenInput, required=False)

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if Workflow.objects.filter(slug=slug).exists():
            raise ValidationError(f"A workflow with slug {slug!r} exists already.")
        return slug

    def clean_graph(self) -> dict[str, Any]:
        try:
            graph = json.loads(self.cleaned_data["graph"])
            importer.validate(graph)
        except (ValueError, importer.GraphError) as error:
            raise ValidationError(f"The graph is no longer valid: {error}") from None
        return graph


class ParamForm(forms.Form):
    include = forms.BooleanField(required=False)
    name = forms.CharField(max_length=64)
    label = forms.CharField(max_length=200, required=False)
    type = forms.ChoiceField(choices=[(t, t) for t in PARAM_TYPES])
    node = forms.CharField(widget=forms.HiddenInput)
    input = forms.CharField(widget=forms.HiddenInput)
    default = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 1, "cols": 28})
    )
    min = forms.FloatField(required=False, widget=forms.NumberInput(attrs={"step": "any", "size": 8}))
    max = forms.FloatField(required=False, widget=forms.NumberInput(attrs={"step": "any", "size": 8}))
    step = forms.FloatField(required=False, widget=forms.NumberInput(attrs={"step": "any", "size": 6}))
    choices = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 1, "cols": 20}), help_text="one per line"
    )
    where = forms.CharField(widget=forms.HiddenInput, required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("include") and data.get("type"):
            try:
                data["param"] = form_to_param(data)
            except ValueError as error:
                raise ValidationError(str(error)) from None
        return data


ParamFormSet = formset_factory(ParamForm, extra=0)


def _number(raw: Any, integer: bool, what: str) -> int | float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {raw!r} is not a number") from None
    if integer:
        if not value.is_integer():
            raise ValueError(f"{what} must be a whole number")
        return int(value)
    return value


def form_to_param(data: dict[str, Any]) -> dict[str, Any]:
    """One ticked row of the review formset → a Workflow.params entry."""
    kind = data["type"]
    integer = kind in ("int", "seed")
    param: dict[str, Any] = {
        "name": data["name"].strip(),
        "type": kind,
        "node": data["node"],
        "input": data["input"],
        "label": data.get("label") or data["name"],
    }
    raw = data.get("default") or ""
    if kind == "text":
        param["default"] = raw
    elif kind == "choice":
        param["choices"] = [line.strip() for line in (data.get("choices") or "").splitlines() if line.strip()]
        param["default"] = raw.strip() or (param["choices"][0] if param["choices"] else None)
    elif kind in ("int", "float", "seed"):
        try:
            param["default"] = _number(raw.strip(), integer, "the default")
            for key in ("min", "max", "step"):
                value = _number(data.get(key), integer, key)
                if value is not None:
                    param[key] = value
        except ValueError as error:
            raise ValueError(f"{param['name']}: {error}") from None
    return param


def param_to_initial(proposal: importer.Proposal) -> dict[str, Any]:
    param = proposal.param
    default = param.get("default")
    return {
        "include": proposal.include,
        "name": param["name"],
        "label": param.get("label", ""),
        "type": param["type"],
        "node": param["node"],
        "input": param["input"],
        "default": "" if default is None else str(default),
        "min": param.get("min"),
        "max": param.get("max"),
        "step": param.get("step"),
        "choices": "\n".join(str(c) for c in param.get("choices", [])),
        "where": f"{proposal.title} · node {param['node']} · {param['input']}"
        + (f" — {proposal.note}" if proposal.note else ""),
    }


class SlugRefused(ValueError):
    """The slug cannot be imported into (not the file's fault)."""


@dataclass
class Imported:
    workflow: Workflow
    created: bool
    reading: Reading
    params: list[dict[str, Any]]

    @property
    def unticked(self) -> list[importer.Proposal]:
        return [p for p in self.reading.analysis.proposals if not p.include]


def import_file(
    raw: str | bytes,
    filename: str,
    *,
    slug: str | None = None,
    name: str | None = None,
    server: Server | None = None,
) -> Imported:
    """What the admin's import does when the operator changes nothing: read the file, make
    the proposals ticked by default the parameters, and save, updating a workflow of that
    slug in place (workflows as code: importing the same file again changes nothing).

    Raises importer.GraphError when the file is refused, SlugRefused for a bad slug."""
    reading = read(raw, server)
    graph = reading.analysis.graph
    params = default_params(reading.analysis)
    problems = importer.check_params(graph, params)
    if problems:  # the proposals are valid as they are (tests/operators/test_importer.py)
        raise importer.GraphError(problems)
    default_name, default_slug = names_for(filename)
    slug = slug or default_slug
    try:
        validate_slug(slug)
    except ValidationError:
        raise SlugRefused(f"{slug!r} is not a slug: letters, digits, - and _ only.") from None
    if len(slug) > 64:
        raise SlugRefused(f"{slug!r} is longer than 64 characters.")
    with transaction.atomic():
        existing = Workflow.objects.select_for_update().filter(slug=slug).first()
        if existing is not None and existing.builtin:
            raise SlugRefused(
                f"{slug!r} is a built-in workflow, which ComfyWeb installs itself: choose another slug."
            )
        chosen = name or (existing.name if existing is not None else default_name)
        workflow, created = save(slug, chosen, "", graph, params)
    return Imported(workflow, created, reading, params)
