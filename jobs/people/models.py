"""What accounts mode adds to Django's users and groups (issue U): invitations, and the
limits and permissions of each group. Kept apart from the job tables: a person is an owner
key to them (jobs.people.owners)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone


def _token() -> str:
    return secrets.token_urlsafe(24)


class Invitation(models.Model):
    """A staff member's invitation: a link that lets one person sign up, into some groups."""

    email = models.EmailField()
    token = models.CharField(max_length=64, unique=True, default=_token, editable=False)
    groups = models.ManyToManyField(Group, blank=True, help_text="The groups the new person joins.")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email

    @property
    def usable(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


class GroupLimits(models.Model):
    """Quotas and permissions of one group. Empty means no limit from this group; a person in
    several groups gets the most generous of each (jobs.people.limits)."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="limits")
    max_active = models.PositiveIntegerField(
        null=True, blank=True, help_text="Jobs pending or running at once (the per-tab limit stays)."
    )
    jobs_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Jobs submitted per day (the day in the site's time zone)."
    )
    all_workflows = models.BooleanField(default=True, help_text="May run every workflow.")
    workflows = models.ManyToManyField(
        "jobs.Workflow", blank=True, help_text="The workflows it may run, when not all of them."
    )
    comfyui_graphs = models.BooleanField(
        default=True, help_text="May send whole graphs through the ComfyUI-compatible endpoint."
    )
    allowed_nodes = models.TextField(
        blank=True, default="", help_text="Node classes a whole graph may use, one per line (empty: any)."
    )
    denied_nodes = models.TextField(
        blank=True, default="", help_text="Node classes a whole graph may not use, one per line."
    )
    max_steps = models.PositiveIntegerField(null=True, blank=True, help_text="Sampling steps.")
    max_pixels = models.PositiveIntegerField(null=True, blank=True, help_text="Width × height.")
    max_batch = models.PositiveIntegerField(null=True, blank=True, help_text="Batch size.")
    max_frames = models.PositiveIntegerField(null=True, blank=True, help_text="Video length, in frames.")

    class Meta:
        verbose_name_plural = "group limits"

    def __str__(self) -> str:
        return f"limits of {self.group.name}"


class ApiToken(models.Model):
    """A person's personal token for programs (issue T): shown once, stored as its SHA-256.
    A program with it acts as the person: their rights, quotas and gallery."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False, help_text="The token's first characters.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class WebhookSecret(models.Model):
    """The key a person's webhook calls are signed with (HMAC-SHA256), one per person."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret"
    )
    secret = models.CharField(max_length=64, default=_token)
    created_at = models.DateTimeField(auto_now=True)
