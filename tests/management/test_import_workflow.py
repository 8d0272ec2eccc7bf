"""`manage.py import_workflow FILE.json`: the admin's import as a command (workflows as code).

On every exported workflow of the fixtures: a broken file exits non-zero with its reason,
every other one saves a workflow and prints its parameters; importing again updates it.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from jobs.core.models import Workflow
from jobs.operators import importer, importer_admin
from tests.factories import make_server
from tests.operators.conftest import simulator_in_thread
from tests.paths import REPO, WORKFLOWS

FILES = sorted(WORKFLOWS.glob("*.api.json"))
BROKEN = {"missing-custom-node": "Node 2 has no class_type: a custom node that is not installed?"}
CHECKPOINT = "v1-5-pruned-emaonly-fp16.safetensors"
CKPT = "CheckpointLoaderSimple.ckpt_name"
NO_CHECKPOINT = (
    f"Warning: {CHECKPOINT} ({CKPT}) is on no server yet: "
    "jobs of this workflow will be refused until a server has it."
)


def slug_of(path: Path) -> str:
    return path.name.removesuffix(".api.json")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_workflow", *args, stdout=out, stderr=io.StringIO(), no_color=True)
    return out.getvalue()


def param_line(param: dict) -> str:
    return f"  {param['name']}  {param['type']}  {param['node']}.{param['input']}"


@pytest.mark.django_db
@pytest.mark.parametrize("path", FILES, ids=slug_of)
def test_every_fixture_is_imported_or_refused_with_its_reason(path):
    slug = slug_of(path)
    before = Workflow.objects.count()
    if slug in BROKEN:
        with pytest.raises(CommandError) as error:
            run(str(path))
        assert BROKEN[slug] in str(error.value) and "is refused" in str(error.value)
        assert Workflow.objects.count() == before
        return
    output = run(str(path))
    workflow = Workflow.objects.get(slug=slug)
    assert workflow.name == slug and workflow.enabled
    # The parameters are those the admin's review saves untouched: the ticked proposals.
    analysis = importer.analyze(path.read_bytes())
    assert workflow.params == importer_admin.default_params(analysis)
    assert f"Created workflow {slug} ({slug}) with {len(workflow.params)} parameter(s)" in output
    for param in workflow.params:
        assert param_line(param) in output, param["name"]
    assert "Note: No server chosen" in output
    assert workflow.requirements["nodes"], "its requirements are recorded"
    # Again: the same workflow, updated in place.
    again = run(str(path))
    assert f"Updated workflow {slug}" in again
    assert Workflow.objects.count() == before + 1
    assert Workflow.objects.get(slug=slug).params == workflow.params


@pytest.mark.django_db
def test_the_model_warning_goes_once_a_server_lists_the_checkpoint():
    path = str(WORKFLOWS / "default-txt2img.api.json")
    output = run(path)
    assert NO_CHECKPOINT in output
    assert "With its defaults it runs on no server: the pool has no enabled server." in output
    make_server("gpu1", node_classes=["KSampler"], model_files={CKPT: ["other.safetensors"]})
    assert NO_CHECKPOINT in run(path)
    make_server("gpu2", node_classes=["KSampler"], model_files={CKPT: [CHECKPOINT]})
    output = run(path)
    assert "is on no server" not in output
    assert "checkpoint (4.ckpt_name): a model file" in output, "the model parameter is proposed, unticked"


@pytest.mark.django_db
def test_slug_name_and_a_live_servers_definitions():
    with simulator_in_thread("sim-cli", models=[f"checkpoints/{CHECKPOINT}"]) as url:
        make_server("sim-cli", url=url)
        output = run(
            str(WORKFLOWS / "default-txt2img.api.json"),
            "--slug",
            "txt2img",
            "--name",
            "Text to image",
            "--server",
            "sim-cli",
        )
    assert "Note: Types and bounds from sim-cli's /object_info" in output
    assert "Warning" not in output, "the simulator has every class and the checkpoint"
    # No relay has read the simulator's inventory yet: placement would not trust it with a model.
    assert "With its defaults it runs on no server: sim-cli lacks its model list (not read yet)." in output
    workflow = Workflow.objects.get(slug="txt2img")
    assert workflow.name == "Text to image"
    assert [p["name"] for p in workflow.params][:3] == ["positive", "negative", "seed"]
    # A later import without --name keeps the name, and keeps the workflow disabled if it was.
    Workflow.objects.filter(slug="txt2img").update(enabled=False)
    assert "Updated workflow txt2img (Text to image)" in run(
        str(WORKFLOWS / "default-txt2img.api.json"), "--slug", "txt2img"
    )
    assert not Workflow.objects.get(slug="txt2img").enabled


@pytest.mark.django_db
def test_classes_a_server_lacks_are_a_warning():
    make_server("gpu1", url="http://127.0.0.1:9", node_classes=["LoadImage", "SaveImage"])
    output = run(str(WORKFLOWS / "core-invert.api.json"), "--server", "gpu1")
    assert "Note: gpu1 did not answer" in output
    assert "Warning: Server gpu1 lacks: ImageInvert" in output
    assert Workflow.objects.filter(slug="core-invert").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slug", "not a slug"], "'not a slug' is not a slug"),
        (["--slug", "invert"], "'invert' is a built-in workflow"),
        (["--server", "nowhere"], "No server is named 'nowhere'"),
    ],
)
def test_wrong_options_are_refused(args, message):
    with pytest.raises(CommandError, match=message):
        run(str(WORKFLOWS / "core-invert.api.json"), *args)
    assert not Workflow.objects.filter(slug="core-invert").exists()


@pytest.mark.django_db
def test_a_missing_file_and_non_json_are_refused(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(str(tmp_path / "nothing.json"))
    (tmp_path / "hello.json").write_text("hello")
    with pytest.raises(CommandError, match="This is not JSON"):
        run(str(tmp_path / "hello.json"))
    editor = tmp_path / "editor.json"
    editor.write_text(json.dumps({"last_node_id": 3, "nodes": [], "links": [], "version": 0.4}))
    with pytest.raises(CommandError, match="This is the editor format"):
        run(str(editor))


# --------------------------------------------------------------------------- a real process


@pytest.fixture(scope="module")
def process_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a `manage.py` process with its own migrated SQLite database."""
    data = tmp_path_factory.mktemp("import-cli")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "COMFYWEB_SQLITE_PATH")}
    env.update(COMFYWEB_DATA_DIR=str(data), COMFYWEB_SQLITE_PATH=str(data / "db.sqlite3"))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True, timeout=120
    )
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "import_workflow", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_as_a_process_only_a_refused_file_exits_non_zero(process_env, tmp_path):
    done = manage(process_env, str(WORKFLOWS / "default-txt2img.api.json"))
    assert done.returncode == 0, done.stderr
    assert "Created workflow default-txt2img" in done.stdout and "  seed  seed  3.seed" in done.stdout
    assert NO_CHECKPOINT in done.stdout, "a warning, and still exit 0"
    again = manage(process_env, str(WORKFLOWS / "default-txt2img.api.json"))
    assert again.returncode == 0 and "Updated workflow default-txt2img" in again.stdout

    broken = manage(process_env, str(WORKFLOWS / "missing-custom-node.api.json"))
    assert broken.returncode != 0
    assert BROKEN["missing-custom-node"] in broken.stderr and "Created" not in broken.stdout
    (tmp_path / "hello.json").write_text("hello")
    not_json = manage(process_env, str(tmp_path / "hello.json"))
    assert not_json.returncode != 0 and "This is not JSON" in not_json.stderr
