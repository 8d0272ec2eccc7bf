"""The pool in Django's admin: servers, workflows, tabs and jobs."""

from django.contrib import admin

from jobs.models import Attempt, Job, Output, Server, Tab, Upload, Workflow


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "enabled", "status", "last_seen", "queue_remaining")
    list_filter = ("enabled", "status")
    readonly_fields = ("client_id", "status", "last_seen", "offline_since", "last_error", "queue_remaining")


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "enabled", "builtin")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Tab)
class TabAdmin(admin.ModelAdmin):
    list_display = ("id", "session_key", "server", "locked_at", "seq", "connected", "last_seen")
    list_filter = ("server",)


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
