"""`manage.py import_workflow FILE.json [--slug S] [--name N] [--server NAME]`: workflows as code.

Does what the admin's "Import from ComfyUI (API format)" does when the operator changes
nothing (jobs.operators.importer_admin.import_file): the proposals ticked by default become
the parameters, and a workflow of that slug is updated in place. Prints the parameters and
every warning; exits non-zero only when the file itself is refused (or an option is wrong).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Import a workflow exported from ComfyUI with Export (API): propose its parameters as the "
        "admin does, save it (a workflow of the same slug is updated), print its parameters and warnings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="an API-format workflow (ComfyUI: Workflow → Export (API))")
        parser.add_argument("--slug", help="its slug (default: from the file name)")
        parser.add_argument("--name", help="its name (default: the current one, or from the file name)")
        parser.add_argument(
            "--server",
            help="take types, bounds and choices from this server's live /object_info, "
            "and check its node classes",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from jobs.core.models import Server
        from jobs.operators import importer, importer_admin, inventories

        path = Path(options["file"])
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror or error}") from None
        server = None
        if options["server"]:
            server = Server.objects.filter(name=options["server"]).first()
            if server is None:
                known = ", ".join(Server.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"No server is named {options['server']!r} (servers: {known}).")
        try:
            done = importer_admin.import_file(
                raw, path.name, slug=options["slug"], name=options["name"], server=server
            )
        except importer.GraphError as error:
            problems = "\n".join(f"  {problem}" for problem in error.problems)
            raise CommandError(f"{path} is refused:\n{problems}") from None
        except importer_admin.SlugRefused as error:
            raise CommandError(str(error)) from None

        workflow = done.workflow
        for note in done.reading.source_notes:
            self.stdout.write(f"Note: {note}")
        for warning in done.reading.warnings:
            self.stdout.write(self.style.WARNING(f"Warning: {warning}"))
        verb = "Created" if done.created else "Updated"
        made = f"{verb} workflow {workflow.slug} ({workflow.name}) with {len(done.params)} parameter(s)"
        self.stdout.write(self.style.SUCCESS(made) + (":" if done.params else "."))
        for param in done.params:
            self.stdout.write("  " + _describe(param))
        if done.unticked:
            self.stdout.write("Also proposed, not made (tick them in the admin to add them):")
            for proposal in done.unticked:
                why = f": {proposal.note}" if proposal.note else ""
                self.stdout.write(f"  {proposal.param['name']} ({_where(proposal.param)}){why}")
        self.stdout.write(f"With its defaults it {inventories.workflow_runs_on(workflow)}.")


def _where(param: dict[str, Any]) -> str:
    return f"{param['node']}.{param['input']}"


def _describe(param: dict[str, Any]) -> str:
    """ "seed  seed  3.seed  default 156680208700286" """
    parts = [param["name"], param["type"], _where(param)]
    if "default" in param:
        default = param["default"]
        shown = repr(default) if isinstance(default, str) else str(default)
        parts.append(f"default {shown[:60] + '…' if len(shown) > 60 else shown}")
    if "min" in param or "max" in param:
        parts.append(f"{param.get('min', '…')}–{param.get('max', '…')}")
    if param["type"] == "choice":
        parts.append(f"{len(param.get('choices') or [])} choices")
    return "  ".join(parts)
