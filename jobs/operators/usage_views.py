"""Usage per person and per group over a period (issue U), for staff at /admin/pool/usage/,
and the same rows as CSV (?format=csv)."""

from __future__ import annotations

import csv
from datetime import date, datetime, time, timedelta

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs.core import usage

COLUMNS = ("kind", "who", "jobs", "succeeded", "failures", "gpu_seconds")


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _period(request: HttpRequest) -> tuple[date | None, date | None, datetime | None, datetime | None]:
    """?since=YYYY-MM-DD&until=YYYY-MM-DD (until inclusive), days in the site's time zone."""
    since, until = _day(request.GET.get("since")), _day(request.GET.get("until"))
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(since, time.min), zone) if since else None
    end = timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min), zone) if until else None
    return since, until, start, end


@staff_member_required
@require_GET
def usage_page(request: HttpRequest) -> HttpResponse:
    since, until, start, end = _period(request)
    people, groups = usage.by_person(start, end), usage.by_group(start, end)
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="comfyweb-usage.csv"'
        writer = csv.writer(response)
        writer.writerow(COLUMNS)
        for kind, rows in (("person", people), ("group", groups)):
            for row in rows:
                writer.writerow(
                    [kind, row.who, row.jobs, row.succeeded, row.failures, f"{row.gpu_seconds:.1f}"]
                )
        return response
    context = {
        **admin.site.each_context(request),
        "title": "Usage",
        "people": people,
        "groups": groups,
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
        "query": request.GET.urlencode(),
    }
    return render(request, "pool/usage.html", context)
