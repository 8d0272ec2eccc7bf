"""The state ComfyWeb keeps: servers, workflows, tabs with their lock, jobs with their attempts.

Lock and job state live here (not in memory) so that several web and relay processes agree
(SPEC §2.8); every change to them goes through `jobs.core.locks` and `jobs.core.service`.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models

from jobs.pool.requirements import of_workflow


class ServerStatus(models.TextChoices):
    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"


# Server columns that hold what a server said (its /object_info runs to megabytes on a real
# ComfyUI with custom nodes): never read where only its name, URL or limits are needed.
SERVER_LARGE_FIELDS = ("system_stats", "node_classes", "model_files", "warmth", "object_info")


class Server(models.Model):
    """One ComfyUI backend. Its URL is shown to staff only; users see `name`."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500, unique=True)
    enabled = models.BooleanField(default=True)
    # Draining: takes no new locks; tabs already locked to it finish their work there.
    draining = models.BooleanField(default=False)
    weight = models.FloatField(
        default=1.0, help_text="Relative capacity; a server of weight 2 gets twice the work."
    )
    max_concurrent = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most ComfyWeb jobs placed on it at once (empty: no limit)."
    )
    max_queued = models.PositiveIntegerField(
        default=2, help_text="Most prompts ComfyWeb keeps in its own queue; the rest wait in ComfyWeb."
    )
    # The relay's WebSocket clientId for this server. Stable, so that a relay that restarts
    # still receives the frames of prompts queued before (PROTOCOL.md §2: per-job frames go
    # only to the prompt's client_id).
    client_id = models.CharField(max_length=64, default="", blank=True)
    status = models.CharField(max_length=16, choices=ServerStatus.choices, default=ServerStatus.UNKNOWN)
    # The lease holder (one relay process) that wrote `status`: the status is evidence only
    # while that holder still holds the server's lease (jobs.pool.trust.effective_status).
    status_by = models.CharField(max_length=100, blank=True, default="")
    last_seen = models.DateTimeField(null=True, blank=True)
    offline_since = models.DateTimeField(null=True, blank=True)
    # Times it failed after being trusted online: a flapping server shows here.
    flaps = models.PositiveIntegerField(default=0)
    last_flap_at = models.DateTimeField(null=True, blank=True)
    # One of the simulators `make run` starts when COMFYUI_SERVERS is unset: disabled on a run
    # that does not start it, instead of lingering in the pool.
    builtin = models.BooleanField(default=False)
    last_error = models.TextField(blank=True, default="")
    queue_remaining = models.IntegerField(default=0)
    # What the server is: from /system_stats and /object_info, refreshed on every connect.
    version = models.CharField(max_length=50, blank=True, default="")
    system_stats = models.JSONField(null=True, blank=True)
    node_classes = models.JSONField(null=True, blank=True)
    # Its model files per loader input ("CheckpointLoaderSimple.ckpt_name" → files), parsed
    # from /object_info by jobs.pool.inventory; None until first read. `inventory_at`: when
    # it was first read or last changed (a refresh that changes nothing writes nothing).
    model_files = models.JSONField(null=True, blank=True)
    inventory_at = models.DateTimeField(null=True, blank=True)
    # Its warm models and the times learned there (jobs.pool.warmth.Warmth.to_json), written
    # by the relay after each prompt with model files: survives a restart of the relay.
    warmth = models.JSONField(null=True, blank=True)
    # Its /object_info as last read, upload combos emptied (they list the server's input
    # files, which change with every upload): the node definitions whole graphs are checked
    # against and the ComfyUI endpoint's /object_info is made of (jobs.comfyapi).
    object_info = models.JSONField(null=True, blank=True)
    # What the server's ComfyUI offers beyond 0.3.64, probed on every connect ("jobs_api": the
    # Jobs API and cancel by id; docs/comfyui-versions.md). Shown to operators.
    capabilities = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def save(self, *args, **kwargs) -> None:
        if not self.client_id:
            self.client_id = f"comfyweb-{uuid.uuid4().hex}"
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.name


def model_input_keys() -> set[str]:
    """Every model input ("Class.input") some server's inventory lists: a graph input of
    one of these names a model file even if the node is no loader ComfyWeb knows."""
    keys: set[str] = set()
    for files in Server.objects.exclude(model_files=None).values_list("model_files", flat=True):
        if isinstance(files, dict):
            keys.update(str(key) for key in files)
    return keys


class Workflow(models.Model):
    """A ComfyUI API-format graph plus the parameters a user may set.

    `params` is a list of dicts: {"name", "type", "node", "input", "default", "label",
    optional "min", "max", "step", "choices"}; each is bound to one node input.
    """

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    graph = models.JSONField()
    params = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    builtin = models.BooleanField(default=False)
    # What it needs of a server (jobs.pool.requirements.of_workflow), recorded on every save
    # so that placement never reads the graph.
    requirements = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def save(self, *args, **kwargs) -> None:
        self.requirements = of_workflow(self.graph or {}, self.params or [], model_input_keys())
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "requirements"}
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.name


class Tab(models.Model):
    """One browser tab, bound to the session that first used it; holds the tab's lock."""

    id = models.UUIDField(primary_key=True)
    session_key = models.CharField(max_length=64, db_index=True)
    server = models.ForeignKey(
        Server, null=True, blank=True, on_delete=models.SET_NULL, related_name="locked_tabs"
    )
    locked_at = models.DateTimeField(null=True, blank=True)
    # Numbers every state change pushed to the tab, so that the page can see a gap (SPEC §5).
    seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now_add=True)
    # Open sockets of this tab across processes; with last_seen, tells a closed tab apart.
    connected = models.IntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return str(self.id)


class JobStatus(models.TextChoices):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# What a raw-graph job shows where others show their workflow's slug.
RAW_GRAPH = "comfyui-graph"

ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    """One run of a workflow for one tab. Its id is also the ComfyUI prompt_id.

    A raw-graph job (sent whole by a ComfyUI client, jobs.comfyapi) has no workflow: it runs
    `graph`, and `params` maps "node.input" to the upload bound there.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    tab = models.ForeignKey(Tab, on_delete=models.CASCADE, related_name="jobs")
    session_key = models.CharField(max_length=64, db_index=True)
    workflow = models.ForeignKey(
        Workflow, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    graph = models.JSONField(null=True, blank=True)
    # The program that sent a raw graph (Comfy-Usage-Source or User-Agent), for the gallery.
    source = models.CharField(max_length=200, blank=True, default="")
    # The client's clientId for a raw graph (its tab is made from it: jobs.comfyapi), shown
    # back in /queue and /history as ComfyUI shows `extra_data.client_id`.
    client_id = models.CharField(max_length=200, blank=True, default="")
    # The client's extra_data (API keys such as api_key_comfy_org): sent with every attempt's
    # prompt, erased when the job ends, never shown (jobs.core.serializers leaves it out).
    secrets = models.JSONField(null=True, blank=True)
    params = models.JSONField(default=dict)
    # Node classes and model files it needs (jobs.pool.requirements.Needs), fixed at submission.
    needs = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True
    )
    server = models.ForeignKey(Server, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    attempt = models.IntegerField(default=0)
    error = models.JSONField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # Every submission counts its owner's and its tab's active jobs (jobs.core.quotas):
        # with status in the index that count reads the few active rows, not every job the
        # owner ever ran.
        indexes = [
            models.Index(fields=["session_key", "status"], name="jobs_job_owner_status"),
            models.Index(fields=["tab", "status"], name="jobs_job_tab_status"),
            # Each dispatch counts every server's active jobs, and the relay reads a server's
            # bound ones: those few, not every job the server ever ran.
            models.Index(fields=["server", "status"], name="jobs_job_server_status"),
        ]

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def graph_to_run(self) -> dict[str, Any]:
        """The graph an attempt queues: its own, or its workflow's."""
        if self.graph is not None:
            return self.graph
        return self.workflow.graph if self.workflow is not None else {}

    @property
    def slug(self) -> str:
        """Its workflow's slug; RAW_GRAPH for a graph a ComfyUI client sent whole."""
        return self.workflow.slug if self.workflow is not None else RAW_GRAPH

    def __str__(self) -> str:
        return f"{self.workflow_id or RAW_GRAPH}:{self.id}"


class Attempt(models.Model):
    """One try of a job on one server; everything of the try goes to that server (SPEC §2.1)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="attempts")
    number = models.IntegerField()
    server = models.ForeignKey(Server, on_delete=models.PROTECT, related_name="attempts")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    prompt_number = models.FloatField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="one_attempt_number_per_job")]


class Upload(models.Model):
    """An input a session uploaded (an image, a video, a sound); private to that session."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    session_key = models.CharField(max_length=64, db_index=True)
    file = models.CharField(max_length=300)
    original_name = models.CharField(max_length=255, blank=True, default="")
    content_type = models.CharField(max_length=100)
    media = models.CharField(max_length=16, default="image")
    width = models.IntegerField(null=True)  # None for a sound
    height = models.IntegerField(null=True)
    duration = models.FloatField(null=True)  # seconds, for video and audio
    size = models.IntegerField()
    sha256 = models.CharField(max_length=64)
    # The name a ComfyUI client gave it ("subfolder/file" of /upload/image, jobs.comfyapi),
    # unique per owner; a graph's LoadImage names it. Empty for the page's uploads.
    input_name = models.CharField(max_length=300, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)


class Output(models.Model):
    """A result ComfyWeb downloaded from the attempt's server into its own storage, or a text
    an output node reported (`media` "text": `text` holds it, `file` is empty).

    `media` and `content_type` come from the bytes (jobs.media.detect), never from the
    server's key or the file's name; `index` runs across all keys of the node.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="outputs")
    node_id = models.CharField(max_length=64)
    index = models.IntegerField()
    file = models.CharField(max_length=300, blank=True, default="")
    filename = models.CharField(max_length=255)
    # The server's folder type (`output` or `temp`), as before media existed.
    kind = models.CharField(max_length=16, default="output")
    media = models.CharField(max_length=16, default="image", db_index=True)
    content_type = models.CharField(max_length=100, default="image/png")
    width = models.IntegerField(null=True)
    height = models.IntegerField(null=True)
    duration = models.FloatField(null=True)  # seconds: video, audio, animations
    size = models.BigIntegerField(null=True)  # bytes of the file (of the text, for a text)
    text = models.TextField(blank=True, default="")
    thumbnail = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["node_id", "index"]
        constraints = [
            # Completion is idempotent (SPEC §2.6): a second completion cannot add a copy.
            models.UniqueConstraint(fields=["job", "node_id", "index"], name="one_output_per_slot")
        ]


class RelayLease(models.Model):
    """Which relay process watches a server: exactly one at a time, for a limited time.

    A relay renews its leases; when it dies they expire and another relay takes the server
    over and reconciles its active jobs (SPEC §2.8).
    """

    server = models.OneToOneField(Server, on_delete=models.CASCADE, related_name="lease")
    holder = models.CharField(max_length=100)
    expires_at = models.DateTimeField()


class WebhookCall(models.Model):
    """A job's callback (issue T): one POST of its JOB when it ends, signed with its person's
    key, retried with backoff for a bounded time (jobs.core.callbacks, jobs.relay.webhooks)."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="webhook")
    url = models.CharField(max_length=2000)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.IntegerField(null=True, blank=True, help_text="HTTP status of the last try")
    last_error = models.CharField(max_length=300, blank=True, default="")
    next_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)  # a relay is calling it now
    delivered_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["delivered_at", "gave_up_at"])]

    def __str__(self) -> str:
        return f"webhook of {self.job_id}"

    @property
    def state(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        if self.gave_up_at is not None:
            return "gave up"
        return "retrying" if self.attempts else "waiting for the job"
