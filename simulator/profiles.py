"""Which ComfyUI the simulator answers as: every difference between its profiles, in one place.

``0.3.64`` is the release the traces were recorded on (tests/fixtures/comfyui/traces); it is
the default and answers exactly as the simulator always has. ``current`` answers as the newest
ComfyUI release confirmed in docs/comfyui-versions.md (0.38.x): one flag or value per confirmed
row there, each naming the ComfyUI file and version it follows ("§n" is that doc's section).
The routes, the executor and the validation read these fields where the versions differ; they
never compare profile names.

Not implemented, because docs/comfyui-versions.md does not confirm them as released:
- ``progress_state`` entries with ``activity: "loading"`` and ``seconds`` (§5, PR #16202 open);
- the API-node credential transport (``/credentials``, ``credential_auth``, the 409 on a
  duplicate ``prompt_id``: the unmerged ``server.py`` 5e14d797 branch, §11);
- ``node_replacements`` rewriting graphs (the flag is advertised; the simulator has no
  deprecated node classes to rewrite), ``/view?filename=blake3:...`` (§6) and the new /view
  download headers (§11), loop-validation errors (``comfy_execution/validation.py`` unread),
  ``invalid_dynamic_input`` (§4: V3 dynamic inputs, which no simulated node has), the RAM-pressure
  cache (§10: eviction is not observable on the wire, so the cache stays classic).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from simulator import COMFYUI_VERSION

MAX_UPLOAD_SIZE = 104857600

FEATURES_0364: dict[str, Any] = {"supports_preview_metadata": True, "max_upload_size": MAX_UPLOAD_SIZE}

# comfy_api/feature_flags.py _CORE_FEATURE_FLAGS (1924b05e, §8); "assets" as main.py sets it
# when the AssetManager is on (the default since --disable-assets, comfy/cli_args.py 03294572).
FEATURES_CURRENT: dict[str, Any] = {
    "supports_preview_metadata": True,
    "supports_model_type_tags": True,
    "max_upload_size": MAX_UPLOAD_SIZE,
    "extension": {"manager": {"supports_v4": True}},
    "node_replacements": True,
    "assets": True,
}


@dataclass(frozen=True)
class Profile:
    """The wire-visible behaviour of one ComfyUI version. Defaults are 0.3.64's."""

    name: str = "0.3.64"
    # /system_stats system.comfyui_version (comfyui_version.py: 0.3.64 at a125cd84, 0.38.1 at
    # 20ca544e, the newest stored; §"How this was checked").
    comfyui_version: str = COMFYUI_VERSION
    # /system_stats system.os: os.name on 0.3.64 ("posix"), sys.platform since ("linux");
    # server.py system_stats 002c3fb9 (§9).
    system_os: str = os.name
    # /system_stats system.comfy_package_versions and system.deploy_environment (server.py
    # system_stats 002c3fb9, app/frontend_management.py get_comfy_package_versions,
    # get_deploy_environment's default "local-git"; §9).
    system_stats_new_keys: bool = False
    # POST /prompt: a prompt_id that is not str(uuid.UUID(v)) is a 400 invalid_prompt_id, and a
    # null one is minted (server.py post_prompt 002c3fb9, comfy_execution/jobs.py
    # validate_job_id 172be438; §1). 0.3.64: str(json_data.get("prompt_id", uuid4())).
    strict_prompt_id: bool = False
    # GET /api/jobs, GET /api/jobs/{id}, POST /api/jobs/{id}/cancel, POST /api/jobs/cancel,
    # only under /api (server.py get_jobs, get_job_by_id, cancel_job_by_id, cancel_jobs_batch
    # 002c3fb9; comfy_execution/jobs.py 172be438; execution.py interrupt_if_running 04e2a914;
    # §2, §3). On 0.3.64 these paths are plain 404s.
    jobs_api: bool = False
    # An unknown or absent class_type is the top-level 400 missing_node_type (execution.py
    # validate_prompt 04e2a914, §4); 0.3.64 said invalid_prompt "... does not exist.".
    missing_node_type: bool = False
    # A cycle found while validating marks each node on it with the node-level reason
    # dependency_cycle (execution.py validate_inputs 04e2a914, §4); 0.3.64 recursed.
    dependency_cycle: bool = False
    # Assets on (comfy/cli_args.py 03294572 default): /upload/image answers an "asset" block
    # (server.py image_upload 002c3fb9), output entries in executed and /history gain
    # id/preview_id/metadata (comfy_execution/asset_enrichment.py 228da558, execution.py
    # execute 04e2a914), GET /object_info starts a scan that broadcasts assets.seed.* frames
    # (app/assets/seeder.py 07eea23b; §6).
    assets: bool = False
    # POST /prompt moves auth_token_comfy_org / api_key_comfy_org out of extra_data into a 6th
    # queue item element and adds extra_data.create_time (ms); /queue and /history show 5
    # elements (server.py post_prompt 002c3fb9, PR #10502; §7).
    create_time: bool = False
    # The Comfy-Usage-Source header fills extra_data.comfy_usage_source when absent (server.py
    # post_prompt 002c3fb9, PR #14404; §8). 0.3.64 ignores the header.
    usage_source_header: bool = False
    # GET /features and the socket's feature_flags answer (comfy_api/feature_flags.py
    # 1924b05e, §8). The socket exchange itself is unchanged.
    features: dict[str, Any] = field(default_factory=lambda: dict(FEATURES_0364))
    # /object_info entries gain is_input_list, has_intermediate_output, search_aliases
    # (server.py node_info 002c3fb9, §9).
    object_info_new_keys: bool = False
    # History outputs come from the nodes run or replayed in this prompt (ui_node_outputs),
    # not from the UI cache of every prompt node; after a successful run, nodes with
    # HAS_INTERMEDIATE_OUTPUT that were not executed replay their cached "executed" frame
    # (execution.py execute_async 04e2a914, §10).
    this_prompt_outputs: bool = False
    # Node classes with HAS_INTERMEDIATE_OUTPUT (§10). No node the simulator has sets it in
    # ComfyUI (it came with the CURVE / histogram nodes), so the set is empty; tests build a
    # variant with dataclasses.replace to exercise the replay.
    intermediate_output_nodes: frozenset[str] = frozenset()

    def has_intermediate_output(self, class_type: str) -> bool:
        return class_type in self.intermediate_output_nodes


PROFILE_0364 = Profile()

CURRENT = Profile(
    name="current",
    comfyui_version="0.38.1",
    system_os="linux",
    system_stats_new_keys=True,
    strict_prompt_id=True,
    jobs_api=True,
    missing_node_type=True,
    dependency_cycle=True,
    assets=True,
    create_time=True,
    usage_source_header=True,
    features=dict(FEATURES_CURRENT),
    object_info_new_keys=True,
    this_prompt_outputs=True,
)

PROFILES: dict[str, Profile] = {PROFILE_0364.name: PROFILE_0364, CURRENT.name: CURRENT}


def get_profile(profile: str | Profile) -> Profile:
    """A profile by name ("0.3.64", "current"), or the Profile given."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}") from None


def object_info_entry(profile: Profile, class_type: str, info: dict[str, Any]) -> dict[str, Any]:
    """An /object_info entry as ``profile`` reports it (node_info's key order)."""
    if not profile.object_info_new_keys:
        return info
    out: dict[str, Any] = {}
    for key, value in info.items():
        out[key] = value
        if key == "input_order":
            out["is_input_list"] = False
        elif key == "output_node":
            out["has_intermediate_output"] = profile.has_intermediate_output(class_type)
    out.setdefault("is_input_list", False)
    out.setdefault("has_intermediate_output", profile.has_intermediate_output(class_type))
    out["search_aliases"] = []
    return out
