"""Prometheus metrics at GET /metrics (SPEC §4): staff, or a bearer token from settings.

Two kinds of numbers:
- state, read from the database at scrape time by `PoolCollector` (jobs by status, queue
  lengths, server health), so every web process reports the same truth;
- timings observed where they happen, by the relay (`jobs.core.instruments`). These live in
  the process that observes them; with a separate relay process (REDIS_URL set) they are in
  that process's memory.

Anyone else gets a 404, not a 403: the route does not admit that it exists.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from jobs.core import usage
from jobs.core.instruments import REGISTRY
from jobs.core.models import ACTIVE_STATUSES, Job, JobStatus, Server, Tab


class PoolCollector(Collector):
    """Gauges read from the database at scrape time (never cached: several processes agree)."""

    def describe(self) -> list:
        return []  # registering must not query the database (it runs at import)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_status = dict(Job.objects.order_by().values_list("status").annotate(n=Count("id")))
        jobs = GaugeMetricFamily("comfyweb_jobs", "Jobs in the database by status.", labels=["status"])
        for status in JobStatus.values:
            jobs.add_metric([status], by_status.get(status, 0))
        yield jobs

        oldest = Job.objects.filter(status=JobStatus.PENDING).aggregate(t=Min("created_at"))["t"]
        yield GaugeMetricFamily(
            "comfyweb_pending_oldest_seconds",
            "Age of the oldest job still waiting for a server (0 when none waits).",
            value=(timezone.now() - oldest).total_seconds() if oldest else 0.0,
        )

        servers = list(
            Server.objects.annotate(
                active=Count("jobs", filter=Q(jobs__status__in=ACTIVE_STATUSES), distinct=True),
                locked=Count("locked_tabs", distinct=True),
            ).order_by("name")
        )
        families = {
            "up": GaugeMetricFamily(
                "comfyweb_server_up",
                "1 when the server is online (its socket is open), else 0.",
                labels=["server"],
            ),
            "enabled": GaugeMetricFamily(
                "comfyweb_server_enabled", "1 when the server is enabled in the pool.", labels=["server"]
            ),
            "draining": GaugeMetricFamily(
                "comfyweb_server_draining", "1 when the server takes no new tabs.", labels=["server"]
            ),
            "queue": GaugeMetricFamily(
                "comfyweb_server_queue_remaining",
                "The server's own queue: running plus pending prompts, as ComfyUI reports it.",
                labels=["server"],
            ),
            "active": GaugeMetricFamily(
                "comfyweb_server_active_jobs",
                "ComfyWeb jobs placed on the server and not finished.",
                labels=["server"],
            ),
            "locked": GaugeMetricFamily(
                "comfyweb_server_locked_tabs", "Tabs whose lock is on the server.", labels=["server"]
            ),
        }
        for server in servers:
            labels = [server.name]
            families["up"].add_metric(labels, 1 if server.status == "online" else 0)
            families["enabled"].add_metric(labels, int(server.enabled))
            families["draining"].add_metric(labels, int(server.draining))
            families["queue"].add_metric(labels, server.queue_remaining)
            families["active"].add_metric(labels, server.active)
            families["locked"].add_metric(labels, server.locked)
        yield from families.values()

        yield GaugeMetricFamily(
            "comfyweb_tabs_locked",
            "Tabs holding a lock.",
            value=Tab.objects.filter(server__isnull=False).count(),
        )
        yield from _group_usage()


def _group_usage() -> Iterator[GaugeMetricFamily]:
    """Usage per group since the start (issue U): groups only, never people, so the label set
    stays as small as the list of groups. One aggregate query per scrape."""
    rows = usage.by_group()
    if not rows:
        return
    described = {
        "jobs": "Jobs submitted by the group's members (a person in several groups counts in each).",
        "failures": "Failed jobs of the group's members.",
        "gpu_seconds": "Execution time on servers of the group's members' jobs.",
    }
    for figure, text in described.items():
        family = GaugeMetricFamily(f"comfyweb_group_{figure}", text, labels=["group"])
        for row in rows:
            family.add_metric([row.who], float(getattr(row, figure)))
        yield family


REGISTRY.register(PoolCollector())


def _allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = settings.COMFYWEB_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), token.encode())
    return False


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        raise Http404("Not found")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
