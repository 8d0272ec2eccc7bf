"""The pool in Django's admin: servers, workflows (with the ComfyUI importer), tabs (with
force-unlock) and jobs. Actions call jobs.operators.pool_actions, which the live dashboard shares."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypedDict

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from jobs.core import locks
from jobs.core.models import ACTIVE_STATUSES, Attempt, Job, Output, Server, Tab, Upload, Workflow
from jobs.core.servers import clean_base_url
from jobs.operators import importer, importer_admin, inventories, pool_actions
from jobs.pool.balancer import ServerLoad

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class ServerCounts(TypedDict):
    """What ServerAdmin.get_queryset annotates on each server."""

    locked: int
    active: int


class TabCounts(TypedDict):
    """What TabAdmin.get_queryset annotates on each tab."""

    active: int
    total: int


class ServerForm(forms.ModelForm):
    url = forms.CharField(
        max_length=500, help_text="The ComfyUI base URL, http:// or https://, e.g. http://gpu1:8188"
    )

    class Meta:
        model = Server
        fields = ("name", "url", "enabled", "draining", "weight", "max_concurrent", "max_queued")
        labels = {"max_concurrent": "Maximum concurrent jobs"}

    def clean_url(self) -> str:
        try:
            url = clean_base_url(self.cleaned_data["url"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None
        # Excluded from model validation below, so its uniqueness is checked here.
        if Server.objects.filter(url=url).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Another server has this URL.")
        return url

    def _get_validation_exclusions(self):
        # The model's URLField validator refuses bare host names; clean_url checked the URL.
        excluded = super()._get_validation_exclusions()  # type: ignore[misc]  # private: not in django-stubs
        return {*excluded, "url"}

    def clean_weight(self) -> float:
        weight = self.cleaned_data["weight"]
        if weight <= 0:
            raise forms.ValidationError("The weight must be above 0; disable the server instead.")
        return weight


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    form = ServerForm
    list_display = (
        "name",
        "url",
        "enabled",
        "draining",
        "status_column",
        "queue_remaining",
        "active_jobs",
        "version",
        "model_count",
        "locked_tabs",
        "weight",
        "flaps",
        "last_seen",
    )
    list_filter = ("enabled", "draining", "status", "builtin")
    search_fields = ("name", "url")
    health_fields = (
        "status",
        "last_seen",
        "offline_since",
        "flaps",
        "last_flap_at",
        "builtin",
        "last_error",
        "queue_remaining",
        "version",
        "protocol",
        "devices",
        "node_class_count",
        "client_id",
    )
    model_fields = ("model_summary", "model_list")
    fieldsets = (
        (None, {"fields": ("name", "url", "enabled", "draining")}),
        ("Capacity", {"fields": ("weight", "max_concurrent", "max_queued")}),
        (
            "Health (filled in by the relay)",
            {"fields": health_fields},
        ),
        (
            "Model files (read by the relay from /object_info)",
            {
                "fields": model_fields,
                "description": "Read when the relay connects, every few minutes, and on "
                "“Refresh” (a list action here, a button on the pool dashboard). "
                "Jobs go only to servers that list every model file they need.",
            },
        ),
    )
    readonly_fields = (*health_fields, *model_fields)
    actions = ["enable", "disable", "drain", "undrain", "refresh", "test_connection"]

    @admin.display(description="protocol")
    def protocol(self, server: Server) -> str:
        """How ComfyWeb talks to it, from what it offered on connect (docs/comfyui-versions.md)."""
        capabilities = server.capabilities or []
        flags = sorted(c.removeprefix("feature:") for c in capabilities if c.startswith("feature:"))
        shown = f"; features: {', '.join(flags)}" if flags else ""
        if "jobs_api" in capabilities:
            return "Jobs API: cancels by prompt id (POST /api/jobs/{id}/cancel)" + shown
        if not server.version:
            return "unknown until the relay connects"
        return "0.3.64 protocol: cancels by queue delete and a guarded /interrupt" + shown

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                locked=Count("locked_tabs", distinct=True),
                active=Count("jobs", filter=Q(jobs__status__in=ACTIVE_STATUSES), distinct=True),
            )
        )

    @admin.display(description="status", ordering="status")
    def status_column(self, server: Server) -> str:
        colour = {"online": "#2a7d2a", "offline": "#b22222"}.get(server.status, "#777")
        return format_html('<b style="color:{}">{}</b>', colour, server.status)

    @admin.display(description="locked tabs", ordering="locked")
    def locked_tabs(self, server: WithAnnotations[Server, ServerCounts]) -> int:
        return server.locked

    @admin.display(description="active jobs", ordering="active")
    def active_jobs(self, server: WithAnnotations[Server, ServerCounts]) -> int:
        return server.active

    @admin.display(description="devices")
    def devices(self, server: Server) -> str:
        lines = pool_actions.describe_devices(server.system_stats or {})
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines)) if lines else "–"

    @admin.display(description="node classes")
    def node_class_count(self, server: Server) -> str:
        classes = server.node_classes
        return str(len(classes)) if isinstance(classes, dict | list) else "–"

    @admin.display(description="model files")
    def model_count(self, server: Server) -> str:
        count = inventories.model_count(server.model_files)
        return "–" if count is None else str(count)

    @admin.display(description="inventory")
    def model_summary(self, server: Server) -> str:
        count = inventories.model_count(server.model_files)
        if count is None or server.inventory_at is None:
            return "not read yet"
        when = timezone.localtime(server.inventory_at).strftime("%Y-%m-%d %H:%M:%S")
        return f"{count} model file(s); read or last changed {when} ({timesince(server.inventory_at)} ago)"

    @admin.display(description="model files")
    def model_list(self, server: Server) -> str:
        groups = [g for g in inventories.model_groups(server.model_files) if g.files]
        if not groups:
            return "not read yet" if server.model_files is None else "none"
        return format_html(
            '<ul class="model-groups" data-role="model-files">{}</ul>',
            format_html_join(
                "",
                '<li data-keys="{}"><b>{}</b> ({}): {}</li>',
                ((" ".join(g.keys), g.label, ", ".join(g.keys), ", ".join(g.files)) for g in groups),
            ),
        )

    def _flags(self, request, queryset, action: str) -> None:
        changed = pool_actions.set_server_flags(list(queryset.values_list("id", flat=True)), action)
        self.message_user(request, f"{action.capitalize()}: {changed} server(s).", messages.SUCCESS)

    @admin.action(description="Enable: the balancer may give them new tabs")
    def enable(self, request, queryset) -> None:
        self._flags(request, queryset, "enable")

    @admin.action(description="Disable: no new tabs (tabs already there finish their jobs)")
    def disable(self, request, queryset) -> None:
        self._flags(request, queryset, "disable")

    @admin.action(description="Drain: take no new tabs; locked tabs finish there")
    def drain(self, request, queryset) -> None:
        self._flags(request, queryset, "drain")

    @admin.action(description="Undrain: take new tabs again")
    def undrain(self, request, queryset) -> None:
        self._flags(request, queryset, "undrain")

    @admin.action(description="Refresh: re-read node classes and model files (/object_info) now")
    def refresh(self, request, queryset) -> None:
        names = []
        for server in queryset:
            pool_actions.refresh_server(server.id)
            names.append(server.name)
        self.message_user(
            request,
            f"Asked the relay to re-read the node classes and model files of {', '.join(names)}.",
            messages.SUCCESS,
        )

    @admin.action(description="Test connection: ask each for /system_stats now")
    def test_connection(self, request, queryset) -> None:
        for server in queryset:
            self._test(request, server)

    def _test(self, request: HttpRequest, server: Server) -> None:
        try:
            stats = pool_actions.probe(server.url)
        except pool_actions.ProbeFailed as error:
            message = f"{server.name} ({server.url}) is unreachable: {error}"
            self.message_user(request, message, messages.ERROR)
            return
        self.message_user(request, f"{server.name}: {pool_actions.summarize_stats(stats)}", messages.SUCCESS)

    def get_urls(self):
        test = self.admin_site.admin_view(self.test_connection_view)
        refresh = self.admin_site.admin_view(self.refresh_view)
        return [
            path("<int:server_id>/test-connection/", test, name="jobs_server_test"),
            path("<int:server_id>/refresh/", refresh, name="jobs_server_refresh"),
            *super().get_urls(),
        ]

    def refresh_view(self, request: HttpRequest, server_id: int) -> HttpResponse:
        back = HttpResponseRedirect(reverse("admin:jobs_server_change", args=[server_id]))
        if request.method != "POST":
            return back
        server = get_object_or_404(Server, id=server_id)
        if not self.has_change_permission(request, server):
            raise PermissionDenied
        pool_actions.refresh_server(server.id)
        self.message_user(
            request,
            f"Asked the relay to re-read {server.name}'s node classes and model files; "
            "reload this page in a moment.",
            messages.SUCCESS,
        )
        return back

    def test_connection_view(self, request: HttpRequest, server_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:jobs_server_change", args=[server_id]))
        server = get_object_or_404(Server, id=server_id)
        if not self.has_view_or_change_permission(request, server):
            raise PermissionDenied
        self._test(request, server)
        return HttpResponseRedirect(reverse("admin:jobs_server_change", args=[server.id]))


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "enabled", "builtin", "param_count")
    list_filter = ("enabled", "builtin")
    search_fields = ("slug", "name")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("runs_on", "recorded_requirements")

    def get_list_display(self, request):
        """The list's "where it runs" column reads the pool once per page, not once per row."""
        loads: list[ServerLoad] | None = None

        @admin.display(description="where it runs")
        def runs_on(workflow: Workflow) -> str:
            nonlocal loads
            if loads is None:
                loads = locks.server_loads(for_update=False)
            return inventories.workflow_runs_on(workflow, loads)

        return (*super().get_list_display(request), runs_on)

    @admin.display(description="parameters")
    def param_count(self, workflow: Workflow) -> int:
        return len(workflow.params or [])

    @admin.display(description="where it runs")
    def runs_on(self, workflow: Workflow | None) -> str:
        """With every parameter at its default; a model a user chooses may narrow it."""
        if workflow is None or workflow.pk is None:
            return "–"
        return inventories.workflow_runs_on(workflow)

    @admin.display(description="what it needs")
    def recorded_requirements(self, workflow: Workflow | None) -> str:
        needs = (workflow.requirements if workflow is not None else None) or {}
        if not needs:
            return "not recorded yet (saving the workflow records them)"
        models = needs.get("models") or []
        param_models = needs.get("param_models") or {}
        rows = [
            ("Node classes", ", ".join(needs.get("nodes") or []) or "none"),
            (
                "Model files",
                "; ".join(f"{m['file']} ({m['key']}, node {m['node']})" for m in models) or "none",
            ),
            (
                "Model parameters",
                "; ".join(f"{name} chooses a {key} file" for name, key in sorted(param_models.items()))
                or "none",
            ),
        ]
        return format_html(
            '<dl class="requirements" data-role="requirements">{}</dl>',
            format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows),
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name="jobs_workflow_import"), *super().get_urls()]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Import from ComfyUI (API format): upload → review the proposals → save."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import from ComfyUI (API format)",
        }
        step = request.POST.get("step") if request.method == "POST" else None
        if step in ("preview", "save"):
            return self._review(request, context, save=step == "save")
        upload = importer_admin.UploadForm(request.POST or None, request.FILES or None)
        if step == "analyze" and upload.is_valid():
            try:
                reading = importer_admin.read(upload.cleaned_data["raw"], upload.cleaned_data.get("server"))
            except importer.GraphError as error:
                for problem in error.problems:
                    upload.add_error(None, problem)
            else:
                analysis, notes = reading.analysis, reading.notes
                name, slug = importer_admin.names_for(getattr(upload.cleaned_data.get("file"), "name", ""))
                review = importer_admin.ReviewForm(
                    initial={
                        "name": name,
                        "slug": slug,
                        "graph": json.dumps(analysis.graph, ensure_ascii=False),
                        "notes": json.dumps(notes),
                    }
                )
                formset = importer_admin.ParamFormSet(
                    initial=[importer_admin.param_to_initial(p) for p in analysis.proposals], prefix="p"
                )
                return self._render_review(request, context, review, formset, notes, analysis.params, [])
        context["upload"] = upload
        return TemplateResponse(request, "admin/jobs/workflow/import.html", context)

    def _review(self, request: HttpRequest, context: dict[str, Any], *, save: bool) -> HttpResponse:
        review = importer_admin.ReviewForm(request.POST)
        formset = importer_admin.ParamFormSet(request.POST, prefix="p")
        notes = _json_list(request.POST.get("notes"))
        params = [f.cleaned_data["param"] for f in formset if f.is_valid() and "param" in f.cleaned_data]
        problems: list[str] = []
        if review.is_valid() and formset.is_valid():
            problems = importer.check_params(review.cleaned_data["graph"], params)
            if save and not problems:
                workflow, _ = importer_admin.save(
                    review.cleaned_data["slug"],
                    review.cleaned_data["name"],
                    review.cleaned_data["description"],
                    review.cleaned_data["graph"],
                    params,
                )
                self.log_addition(request, workflow, "Imported from ComfyUI (API format).")
                self.message_user(
                    request, f"Imported {workflow.name} with {len(params)} parameter(s).", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:jobs_workflow_change", args=[workflow.pk]))
        return self._render_review(request, context, review, formset, notes, params, problems)

    def _render_review(self, request, context, review, formset, notes, params, problems) -> HttpResponse:
        context.update(
            review=review, formset=formset, notes=notes, preview=_preview(params), problems=problems
        )
        return TemplateResponse(request, "admin/jobs/workflow/import.html", context)


def _json_list(raw: str | None) -> list[str]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _preview(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The params as the run page's form shows them (static/comfyweb/app.js buildField)."""
    return [{**p, "choices": [str(c) for c in p.get("choices", [])]} for p in params]


class TabJobInline(admin.TabularInline):
    model = Job
    fields = ("id", "workflow", "status", "server", "attempt", "created_at", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tab)
class TabAdmin(admin.ModelAdmin):
    """Every tab with its session, lock and jobs: what the old browser client's console tools
    showed to inspect window isolation, now across all users."""

    list_display = (
        "id",
        "session_short",
        "server",
        "locked_at",
        "active_jobs",
        "jobs_total",
        "connected",
        "last_seen",
        "closed_at",
    )
    list_filter = ("server", ("closed_at", admin.EmptyFieldListFilter))
    search_fields = ("id", "session_key")
    readonly_fields = (
        "id",
        "session_key",
        "server",
        "locked_at",
        "seq",
        "connected",
        "created_at",
        "last_seen",
        "closed_at",
    )
    inlines = [TabJobInline]
    actions = ["force_unlock"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(active=Count("jobs", filter=Q(jobs__status__in=ACTIVE_STATUSES)), total=Count("jobs"))
        )

    @admin.display(description="session")
    def session_short(self, tab: Tab) -> str:
        return f"{tab.session_key[:8]}…"

    @admin.display(description="active jobs", ordering="active")
    def active_jobs(self, tab: WithAnnotations[Tab, TabCounts]) -> int:
        return tab.active

    @admin.display(description="jobs", ordering="total")
    def jobs_total(self, tab: WithAnnotations[Tab, TabCounts]) -> int:
        return tab.total

    @admin.action(description="Force unlock: release the server and cancel these tabs' active jobs")
    def force_unlock(self, request, queryset) -> None:
        cancelled = sum(pool_actions.force_unlock(tab.id) for tab in queryset)
        self.message_user(
            request,
            f"Unlocked {queryset.count()} tab(s); cancelled {cancelled} active job(s) of those tabs only. "
            "Their prompts are removed from the server queue or interrupted by prompt id.",
            messages.SUCCESS,
        )


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    readonly_fields = ("number", "server", "status", "prompt_number", "error", "created_at", "finished_at")


class OutputInline(admin.TabularInline):
    model = Output
    extra = 0
    readonly_fields = ("node_id", "index", "filename", "kind", "width", "height", "file")


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "workflow", "status", "server", "attempt", "tab", "created_at", "finished_at")
    list_filter = ("status", "workflow", "server")
    inlines = [AttemptInline, OutputInline]


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ("id", "original_name", "width", "height", "size", "created_at")
