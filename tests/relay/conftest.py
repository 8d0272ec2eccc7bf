"""Every relay test that starts a simulator runs against both ComfyUI profiles (issue V): as
0.3.64 and as the current release, unless it names a profile itself."""

from __future__ import annotations

import pytest

import simulator.testing

PROFILES = ("0.3.64", "current")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "comfyui_profile" not in metafunc.fixturenames:
        return
    starts_one = hasattr(metafunc.module, "running_simulator")
    named = "profile" in metafunc.fixturenames
    metafunc.parametrize(
        "comfyui_profile", PROFILES if starts_one and not named else PROFILES[:1], indirect=True
    )


@pytest.fixture(autouse=True)
def comfyui_profile(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    profile = getattr(request, "param", PROFILES[0])
    monkeypatch.setattr(simulator.testing, "DEFAULT_PROFILE", profile)
    return profile
