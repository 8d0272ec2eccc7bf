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

from jobs.people.models import GroupLimits, Invitation


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
