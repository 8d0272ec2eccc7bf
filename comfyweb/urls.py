from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from jobs.operators import metrics, usage_views

urlpatterns = [
    # Before the admin site, whose catch-all would answer /admin/pool/ itself.
    path("admin/pool/usage/", usage_views.usage_page, name="pool-usage"),
    path("admin/pool/", include("jobs.operators.dashboard_views")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("accounts/", include("jobs.web.accounts_urls")),
    path("", include("jobs.web.urls")),
]

# Errors under /api/ are JSON, never an HTML page (SPEC §4); pages keep Django's.
handler404 = "jobs.web.http.not_found"
handler500 = "jobs.web.http.server_error"
