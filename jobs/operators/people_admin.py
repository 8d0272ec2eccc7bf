"""The admin of people (issue U): invitations (the link to send), and each group's limits,
edited on the group's own page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from jobs.core.models import WebhookCall
from jobs.people.models import ApiToken, GroupLimits, Invitation


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "created_at", "expires_at", "accepted_at", "link")
    fields = ("email", "groups", "expires_at", "link", "invited_by", "accepted_at", "accepted_by")
    readonly_fields = ("link", "invited_by", "accepted_at", "accepted_by")
    filter_horizontal = ("groups",)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"expires_at": timezone.now() + timedelta(days=settings.COMFYWEB_INVITATION_DAYS)}

    @admin.display(description="link to send")
    def link(self, invitation: Invitation) -> str:
        if not invitation.pk:
            return "(saved first)"
        url = reverse("invite", args=[invitation.token])
        return format_html('<code data-role="invite-link">{}</code>', url)

    def save_model(self, request: HttpRequest, obj: Invitation, form: Any, change: bool) -> None:
        if not change:
            obj.invited_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


class LimitsInline(admin.StackedInline):
    model = GroupLimits
    can_delete = True
    filter_horizontal = ("workflows",)
    verbose_name_plural = "limits and permissions"


admin.site.unregister(Group)


@admin.register(Group)
class GroupWithLimitsAdmin(GroupAdmin):
    inlines = [LimitsInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see every person's tokens (never the tokens themselves) and may revoke any."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token is made by its person, who alone sees it once

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {revoked} token(s).")


@admin.register(WebhookCall)
class WebhookCallAdmin(admin.ModelAdmin):
    list_display = ("job", "url", "attempts", "last_status", "delivered_at", "gave_up_at")
    readonly_fields = [f.name for f in WebhookCall._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
