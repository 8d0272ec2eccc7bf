"""Run `invert` on an image with a personal token: python run_with_token.py photo.png"""

import os
import sys
import time
from pathlib import Path

import httpx

token, callback = os.environ["COMFYWEB_TOKEN"], os.environ.get("CALLBACK_URL")
api = httpx.Client(base_url=os.environ["COMFYWEB_URL"], headers={"Authorization": f"Bearer {token}"})
image = api.post("/api/uploads/", files={"file": Path(sys.argv[1]).read_bytes()}).json()
body = {"workflow": "invert", "params": {"image": image["id"]}, "callback_url": callback}
job = api.post("/api/jobs/", json=body).json()["job"]
while job["status"] not in ("succeeded", "failed", "cancelled"):
    time.sleep(0.5)
    job = api.get(f"/api/jobs/{job['id']}/").json()["job"]
print(job["status"], *(api.base_url.join(output["url"]) for output in job["outputs"]))
