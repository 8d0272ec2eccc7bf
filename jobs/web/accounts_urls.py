"""/accounts/: sign in and out, sign up (open or by invitation), password reset (Django's)."""

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path

from jobs.web import accounts


class LoginView(auth_views.LoginView):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(**kwargs) | {"open_signup": settings.COMFYWEB_OPEN_SIGNUP}


urlpatterns = [
    path("", accounts.account, name="account"),
    path("login/", LoginView.as_view(), name="login"),
    path("signup/", accounts.signup, name="signup"),
    path("invite/<str:token>/", accounts.signup, name="invite"),
    path("", include("django.contrib.auth.urls")),
]
