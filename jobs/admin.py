"""The pool in Django's admin: servers, workflows, tabs (with force-unlock) and jobs."""

from django.contrib import admin, messages
from django.db.models import Count, Q

from jobs import events, service
from jobs.models import ACTIVE_STATUSES, Attempt, Job, Output, Server, Tab, Upload, Workflow


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "enabled", "status", "last_seen", "queue_remaining")
    list_filter = ("enabled", "status")
    readonly_fields = ("client_id", "status", "last_seen", "offline_since", "last_error", "queue_remaining")


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "enabled", "builtin")
    prepopulated_fields = {"slug": ("name",)}


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
    def active_jobs(self, tab: Tab) -> int:
        return tab.active

    @admin.display(description="jobs", ordering="total")
    def jobs_total(self, tab: Tab) -> int:
        return tab.total

    @admin.action(description="Force unlock: release the server and cancel these tabs' active jobs")
    def force_unlock(self, request, queryset) -> None:
        cancelled = 0
        for tab in queryset:
            result = service.force_unlock(tab.id)
            events.publish_sync(result.events)
            for job_id in result.on_servers:
                events.nudge_relay_sync("cancel", job=job_id)
            cancelled += sum(1 for _, m in result.events if m["type"] == "job.updated")
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
