"""Issue T end to end: in accounts mode, the README's ten-line script runs a job with only a
personal token (no browser, no cookie) against `manage.py serve` and a simulator, and the
person's webhook receiver gets one signed call with the ended JOB."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys

from tests.factories import png_bytes
from tests.live import live_app
from tests.paths import REPO
from tests.people.test_webhooks import Receiver

TOKEN = "cwt_" + "s" * 43
SEED = f"""
from django.contrib.auth.models import User
from jobs.people import tokens
from jobs.people.models import ApiToken, WebhookSecret
ann = User.objects.create_user("ann")
ApiToken.objects.create(user=ann, name="script", digest=tokens.digest({TOKEN!r}), prefix={TOKEN[:10]!r})
WebhookSecret.objects.create(user=ann, secret="the-key")
"""


async def test_the_readme_script_runs_a_job_with_a_token_and_a_signed_webhook_arrives(tmp_path):
    image = tmp_path / "in.png"
    image.write_bytes(png_bytes(16, 12))
    env = {"COMFYWEB_ACCESS": "accounts", "COMFYWEB_WEBHOOK_ALLOW": "127.0.0.1/32"}
    async with Receiver([]) as receiver:
        with live_app(tmp_path / "app", simulators=1, env=env, seed=SEED) as app:
            script = {**os.environ, "COMFYWEB_URL": app.url, "COMFYWEB_TOKEN": TOKEN}
            script["CALLBACK_URL"] = f"{receiver.url}/done"
            run = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, str(REPO / "docs/examples/run_with_token.py"), str(image)],
                env=script, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert run.returncode == 0, run.stderr
            status, *outputs = run.stdout.split()
            assert status == "succeeded" and outputs and "/files/outputs/" in outputs[0]
            for _ in range(100):
                if receiver.seen:
                    break
                await asyncio.sleep(0.1)
    assert len(receiver.seen) == 1
    path, headers, body = receiver.seen[0]
    assert path == "/done" and json.loads(body)["job"]["status"] == "succeeded"
    stamp, mac = (part.split("=", 1)[1] for part in headers["ComfyWeb-Signature"].split(","))
    assert mac == hmac.new(b"the-key", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
