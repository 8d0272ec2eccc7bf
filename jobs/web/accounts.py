"""Signing in, up and out (issue U, accounts mode). Django's own auth views, plus sign-up by a
staff invitation or, where a setting allows it, open sign-up limited to e-mail domains.

On sign-in, what the browser's anonymous session made (tabs, jobs, uploads) is adopted by
the account (jobs.core.owners.adopt), and the sockets of those tabs are asked to reconnect
with the new session.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from jobs.core import callbacks, events, owners
from jobs.core.models import WebhookCall
from jobs.people import owners as owner_keys
from jobs.people import tokens
from jobs.people.models import ApiToken, Invitation, WebhookSecret
from jobs.web.access import ANONYMOUS_OWNER


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=True)

    class Meta(UserCreationForm.Meta):  # type: ignore[name-defined]
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args: Any, invitation: Invitation | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        if invitation is not None:
            self.fields["email"].initial = invitation.email
            self.fields["email"].disabled = True

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if self.invitation is None and settings.COMFYWEB_SIGNUP_DOMAINS:
            domain = email.rsplit("@", 1)[-1]
            if domain not in settings.COMFYWEB_SIGNUP_DOMAINS:
                allowed = ", ".join(settings.COMFYWEB_SIGNUP_DOMAINS)
                raise forms.ValidationError(
                    _("Sign-up is open to addresses at %(domains)s only.") % {"domains": allowed}
                )
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("An account with this address exists: sign in, or reset its password.")
            )
        return email


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest, token: str | None = None) -> HttpResponse:
    """Open sign-up (COMFYWEB_OPEN_SIGNUP) at /accounts/signup/, or by invitation at
    /accounts/invite/<token>/ (one person, once, before it expires)."""
    invitation = None
    if token is not None:
        invitation = Invitation.objects.filter(token=token).first()
        if invitation is None or not invitation.usable:
            return render(request, "registration/invitation_invalid.html", status=410)
    elif not settings.COMFYWEB_OPEN_SIGNUP:
        raise Http404("Sign-up is by invitation.")
    form = SignUpForm(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save(commit=False)
            user.email = invitation.email if invitation is not None else form.cleaned_data["email"]
            user.save()
            if invitation is not None:
                user.groups.set(invitation.groups.all())
                Invitation.objects.filter(pk=invitation.pk).update(
                    accepted_at=timezone.now(), accepted_by=user
                )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form, "invitation": invitation})


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """The person's page (issue T): API tokens (made here, shown once, revoked here), the key
    webhook calls are signed with, and the last calls with their outcome."""
    user_id = int(request.user.pk or 0)  # login_required: a person
    new_token = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create":
            days = request.POST.get("days", "").strip()
            expires = timezone.now() + timedelta(days=int(days)) if days.isdigit() and int(days) > 0 else None
            _, new_token = tokens.create(user_id, request.POST.get("name", ""), expires)
        elif action == "revoke" and request.POST.get("token", "").isdigit():
            tokens.revoke(int(request.POST["token"]), user_id)
        elif action == "rotate":
            WebhookSecret.objects.update_or_create(
                user_id=user_id, defaults={"secret": secrets.token_urlsafe(24)}
            )
        if new_token is None:
            return redirect("account")
    calls = WebhookCall.objects.filter(job__session_key=owner_keys.of_user(user_id)).order_by("-created_at")[
        :20
    ]
    context = {
        "tokens": ApiToken.objects.filter(user_id=user_id),
        "new_token": new_token,
        "secret": callbacks.secret_of(user_id),
        "calls": calls,
        "signature_header": callbacks.SIGNATURE_HEADER,
    }
    return render(request, "registration/account.html", context)


@receiver(user_logged_in)
def adopt_anonymous_work(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """The anonymous session's tabs, jobs and uploads become the person's; its open tabs
    reconnect (their sockets carry the old identity)."""
    if request is None:
        return
    anonymous = request.session.pop(ANONYMOUS_OWNER, None)
    if not anonymous:
        return
    tab_ids = owners.adopt(anonymous, owner_keys.of_user(user.pk))
    if tab_ids:
        async_to_sync(events.publish)([events.owner_changed(tab_id) for tab_id in tab_ids])
