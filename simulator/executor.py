"""The single worker: takes prompts in `number` order and runs them with ComfyUI's messages.

Ported from main.py prompt_worker and execution.py PromptExecutor.execute_async / execute.
Message order per job (PROTOCOL §3): execution_start, execution_cached, per node
progress_state(running) + executing + [ticks] + [executed] + progress_state(finished),
then execution_success | execution_error | execution_interrupted, the history entry,
status, executing{node: null}. "Guarded" messages go only to the prompt's client and are
dropped when it has none; progress, previews and execution_interrupted are broadcast then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from PIL import Image

from simulator.assets import Assets
from simulator.errors import (
    InterruptProcessing,
    exception_type_name,
    format_value,
    inner_frames,
    node_traceback,
)
from simulator.files import Storage
from simulator.graph import ExecutionList, is_link, signatures
from simulator.image_batch import pixel_count
from simulator.models import ModelSet
from simulator.nodes import NODES, Node, NodeContext, NodeResult
from simulator.profiles import PROFILE_0364, Profile
from simulator.progress import ProgressRegistry, legacy_preview, metadata_preview
from simulator.prompt_queue import PromptQueue
from simulator.residency import Residency, files_in
from simulator.ws import PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA, SocketHub

log = logging.getLogger(__name__)

# Node functions run inline (keeps message order deterministic) unless an input image is
# bigger than this, or the node encodes or decodes media (THREADED); then a thread keeps HTTP
# and sockets responsive meanwhile.
THREAD_PIXELS = 1_000_000
# A model load checks for interrupts this often (seconds).
LOAD_TICK = 0.05


class Abandoned(Exception):
    """The job was dropped by the "lose_queue" fault; it must leave no trace."""


class Executor:
    def __init__(
        self,
        queue: PromptQueue,
        hub: SocketHub,
        storage: Storage,
        delay: float,
        models: ModelSet | None = None,
        residency: Residency | None = None,
    ) -> None:
        self.queue = queue
        self.hub = hub
        self.storage = storage
        self.delay = delay
        self.sampler_seconds: float | None = None  # --sampler-seconds: a sampler's own time
        self.models = models or ModelSet()
        self.residency = residency or Residency()
        # The ComfyUI version it runs as, and (for a profile with assets) the asset ids.
        self.profile: Profile = PROFILE_0364
        self.assets = Assets(storage)
        # The current profile's ui_node_outputs: the UI of the nodes run or replayed in this prompt.
        self.ui_outputs: dict[str, dict[str, Any]] = {}
        # Output cache: signature -> outputs, and signature -> {"meta", "output"} (ui cache).
        self.outputs: dict[str, tuple[Any, ...]] = {}
        self.ui: dict[str, dict[str, Any]] = {}
        # Node instances by (node id, class), kept while prompts keep using them.
        self.objects: dict[tuple[str, str], Node] = {}
        self.interrupt_flag = False
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.last_prompt_id: str | None = None
        self.progress_value: tuple[Any, Any] | None = None
        self.generation = 0
        self._job_generation = 0
        self._task: asyncio.Task[None] | None = None
        self._released = asyncio.Event()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._worker(), name="sim-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def interrupt(self) -> None:
        self.interrupt_flag = True

    async def _node_delay(self) -> None:
        """Sleep the node delay, unless /_sim/release (a benchmark control) cuts it short."""
        self._released.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._released.wait(), self.delay)

    async def _step_delay(self, seconds: float) -> None:
        """A slice of the delay for nodes that spend it themselves (OWN_DELAY): ends early
        once /_sim/release was called during the node, and always yields to the loop."""
        if seconds <= 0 or self._released.is_set():
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._released.wait(), seconds)

    def release(self) -> bool:
        """End the node delay now running, if any; True when a node was waiting."""
        waiting = self.last_node_id is not None and not self._released.is_set()
        self._released.set()
        return waiting

    def forget_everything(self) -> None:
        """Lose the running job, caches and node instances, as a restart would."""
        self.generation += 1
        self.interrupt_flag = True
        self.outputs.clear()
        self.ui.clear()
        self.objects.clear()

    def reconnect_node(self, sid: str) -> str | None:
        return self.last_node_id if self.client_id == sid else None

    async def _worker(self) -> None:
        while True:
            item, task_id = await self.queue.get()
            self._job_generation = self.generation
            _number, prompt_id, prompt, extra_data, outputs = item[:5]
            if len(item) > 5 and item[5]:
                extra_data = {**extra_data, **item[5]}  # the secrets, back for the nodes only
            self.last_prompt_id = prompt_id
            try:
                success, status_messages, history = await self.execute(prompt, prompt_id, extra_data, outputs)
            except Abandoned:
                self.queue.forget_running(task_id)
                self.last_node_id = None
                continue
            except Exception:
                log.exception("simulator executor failed")
                self.queue.forget_running(task_id)
                continue
            status = {
                "status_str": "success" if success else "error",
                "completed": success,
                "messages": status_messages,
            }
            await self.queue.task_done(task_id, history, status)
            if self.client_id is not None:
                await self._send("executing", {"node": None, "prompt_id": prompt_id}, guarded=True)

    # --- sending ----------------------------------------------------------------------------

    def _check_abandoned(self) -> None:
        if self._job_generation != self.generation:
            raise Abandoned

    async def _send(self, event: str, data: dict[str, Any], guarded: bool) -> None:
        self._check_abandoned()
        if guarded and self.client_id is None:
            return
        await self.hub.send_json(event, data, self.client_id)

    async def _add_message(self, event: str, data: dict[str, Any], broadcast: bool) -> None:
        data = {**data, "timestamp": int(time.time() * 1000)}
        self.status_messages.append([event, data])
        if self.client_id is not None or broadcast:
            await self._send(event, data, guarded=False)

    # --- one prompt -------------------------------------------------------------------------

    async def execute(
        self, prompt: dict[str, Any], prompt_id: str, extra_data: dict[str, Any], execute_outputs: list[str]
    ) -> tuple[bool, list[Any], dict[str, Any]]:
        self.interrupt_flag = False  # cleared when a prompt starts (execution.py)
        self.client_id = extra_data.get("client_id")
        self.status_messages: list[Any] = []
        self.ui_outputs = {}
        await self._add_message("execution_start", {"prompt_id": prompt_id}, broadcast=False)

        self.progress = ProgressRegistry(prompt_id)
        sigs = signatures(prompt, lambda node_id: self._is_changed(prompt, node_id))
        used = set(sigs.values())
        # Classic cache: only entries the new prompt uses survive it.
        for cache in (self.outputs, self.ui):
            for key in [k for k in cache if k not in used]:
                del cache[key]
        keep = {(node_id, node["class_type"]) for node_id, node in prompt.items()}
        self.objects = {k: v for k, v in self.objects.items() if k in keep}

        cached_nodes = [node_id for node_id in prompt if sigs[node_id] in self.outputs]
        await self._add_message(
            "execution_cached", {"nodes": cached_nodes, "prompt_id": prompt_id}, broadcast=False
        )

        executed: list[str] = []
        current_outputs = list(prompt)
        execution_list = ExecutionList(prompt, lambda node_id: sigs.get(node_id) in self.outputs)
        for output_id in execute_outputs:
            execution_list.add_node(output_id)
        success = True
        while not execution_list.is_empty():
            node_id = execution_list.stage()
            if node_id is None:
                cycle = {
                    "node_id": next(iter(execution_list.pending)),
                    "exception_message": "Dependency cycle detected",
                    "exception_type": "graph.DependencyCycleError",
                    "traceback": [],
                    "current_inputs": {},
                }
                await self._handle_error(prompt_id, prompt, current_outputs, executed, cycle, RuntimeError())
                success = False
                break
            error, ex = await self._execute_node(prompt, prompt_id, node_id, sigs, extra_data, executed)
            if error is not None:
                await self._handle_error(prompt_id, prompt, current_outputs, executed, error, ex)
                success = False
                break
            execution_list.complete()
        else:
            for node_id in prompt:
                # Cached UI of intermediate-output nodes that did not run (04e2a914).
                class_type = prompt[node_id]["class_type"]
                if node_id in executed or not self.profile.has_intermediate_output(class_type):
                    continue
                if sigs[node_id] in self.outputs:
                    await self._emit_cached(node_id, sigs[node_id], prompt_id)
            await self._add_message("execution_success", {"prompt_id": prompt_id}, broadcast=False)

        outputs: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        if self.profile.this_prompt_outputs:
            shown = self.ui_outputs  # ui_node_outputs: the nodes run or replayed in this prompt
        else:  # 0.3.64: the UI cache of every prompt node
            shown = {n: ui for n in prompt if (ui := self.ui.get(sigs[n])) is not None}
        for node_id, ui in shown.items():
            outputs[node_id] = ui["output"]
            meta[node_id] = ui["meta"]
        self.last_node_id = None
        self.progress_value = None
        self._check_abandoned()
        return success, self.status_messages, {"outputs": outputs, "meta": meta}

    def _is_changed(self, prompt: dict[str, Any], node_id: str) -> Any:
        node = prompt[node_id]
        try:
            return NODES[node["class_type"]]().is_changed(self.storage, node["inputs"])
        except Exception:
            return ("nan", object())  # never equal: such a node is never cached

    async def _send_progress_state(self) -> None:
        await self._send("progress_state", self.progress.message(), guarded=False)

    async def _execute_node(
        self,
        prompt: dict[str, Any],
        prompt_id: str,
        node_id: str,
        sigs: dict[str, str],
        extra_data: dict[str, Any],
        executed: list[str],
    ) -> tuple[dict[str, Any] | None, BaseException | None]:
        class_type = prompt[node_id]["class_type"]
        sig = sigs[node_id]
        if sig in self.outputs:
            # A cached output node: executed with its earlier result, no executing frame.
            await self._emit_cached(node_id, sig, prompt_id)
            self.progress.finish(node_id)
            await self._send_progress_state()
            return None, None

        self.progress.start(node_id)
        await self._send_progress_state()
        inputs = self._input_data(prompt[node_id]["inputs"], sigs)
        if self.client_id is not None:
            self.last_node_id = node_id
        await self._send(
            "executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id}, guarded=True
        )
        key = (node_id, class_type)
        node = self.objects.get(key)
        if node is None:
            node = self.objects[key] = NODES[class_type]()
        ctx = NodeContext(
            storage=self.storage,
            node_id=node_id,
            progress=lambda value, maximum, image: self._tick(prompt_id, node_id, value, maximum, image),
            prompt=prompt,
            extra_pnginfo=extra_data.get("extra_pnginfo"),
            models=self.models,
            delay=self.sampler_seconds if node.OWN_DELAY and self.sampler_seconds is not None else self.delay,
            wait=self._step_delay,
        )
        try:
            self._check_interrupt()  # nodes.before_node_execution: checked as the node starts
            self._released.clear()  # a release ends this node's waits: its delay, its loads
            if not node.OWN_DELAY and self.delay > 0:  # OWN_DELAY: spent step by step
                await self._node_delay()  # the "work" of the node (--delay)
                self._check_abandoned()
            # Weights the node runs on that were evicted since their loader ran (a sampler).
            await self._make_resident(files_in(inputs.get(name) for name in node.USES_WEIGHTS))
            result = await self._run(node, ctx, inputs)
            # Weights the node brought in (a loader): files its outputs hold and its inputs did not.
            held = set(files_in(inputs.values()))
            await self._make_resident([f for f in files_in(result.outputs) if f not in held])
        except Abandoned:
            raise
        except InterruptProcessing as ex:
            return {"node_id": node_id}, ex
        except Exception as ex:
            return {
                "node_id": node_id,
                "exception_message": f"{ex}\n",
                "exception_type": exception_type_name(ex),
                "traceback": node_traceback(node.SOURCE, node.V3, inner_frames(ex)),
                "current_inputs": {name: [format_value(v)] for name, v in inputs.items()},
            }, ex

        if result.ui:
            meta = {"node_id": node_id, "display_node": node_id, "parent_node": None, "real_node_id": node_id}
            ui = result.ui
            if self.profile.assets:
                ui = self.assets.with_metadata(ui)  # cached with metadata, without asset ids
            self.ui[sig] = {"meta": meta, "output": ui}
            sent = self.assets.with_ids(ui) if self.profile.assets else ui
            self.ui_outputs[node_id] = {"meta": meta, "output": sent}
            await self._send(
                "executed",
                {"node": node_id, "display_node": node_id, "output": sent, "prompt_id": prompt_id},
                guarded=True,
            )
        self.outputs[sig] = result.outputs
        self.progress.finish(node_id)
        await self._send_progress_state()
        executed.append(node_id)
        return None, None

    async def _emit_cached(self, node_id: str, sig: str, prompt_id: str) -> None:
        """A cached node's UI: the executed frame to the submitter (output null when it has
        none), and (current profile) into this prompt's outputs with fresh asset ids."""
        ui = self.ui.get(sig)
        output = ui.get("output") if ui else None
        if self.profile.assets:
            output = self.assets.with_ids(output)
        if ui is not None:
            self.ui_outputs[node_id] = {"meta": ui["meta"], "output": output}
        if self.client_id is not None:
            await self._send(
                "executed",
                {"node": node_id, "display_node": node_id, "output": output, "prompt_id": prompt_id},
                guarded=True,
            )

    async def _make_resident(self, files: list[str]) -> None:
        """Make ``files`` resident, spending the load time of each that is not: the one place
        a model load happens (simulator.residency says where and why). The 0.3.64 profile
        sends no frame meanwhile; a profile of current ComfyUI would send the node's
        progress_state entry with ``activity: "loading"`` here, around the wait."""
        if not files:
            return
        self.residency.touch(files)
        for file in self.residency.missing(files):
            seconds = self.residency.load_time(file)
            if seconds > 0:
                await self._load_wait(seconds)
            self.residency.admit(file, in_use=files)

    async def _load_wait(self, seconds: float) -> None:
        """Sleep a load: stops with InterruptProcessing on POST /interrupt (the file is then
        not resident) and ends early on /_sim/release, like the samplers' steps."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            self._check_interrupt()
            left = deadline - loop.time()
            if left <= 0 or self._released.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), min(left, LOAD_TICK))

    def _input_data(self, raw: dict[str, Any], sigs: dict[str, str]) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for name, value in raw.items():
            if is_link(value):
                source = self.outputs.get(sigs.get(value[0], ""))
                inputs[name] = None if source is None else source[int(value[1])]
            else:
                inputs[name] = value
        return inputs

    async def _run(self, node: Node, ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
        if node.IS_ASYNC:
            return await node.run_async(ctx, **inputs)
        big = any(pixel_count(v) > THREAD_PIXELS for v in inputs.values())
        if (
            node.THREADED
            or big
            or (
                node.RETURN_TYPES == ("IMAGE",)
                and inputs.get("width", 0) * inputs.get("height", 0) > THREAD_PIXELS
            )
        ):
            return await asyncio.to_thread(node.run, ctx, **inputs)
        return node.run(ctx, **inputs)

    def _check_interrupt(self) -> None:
        """throw_exception_if_processing_interrupted: raises once and clears the flag."""
        self._check_abandoned()
        if self.interrupt_flag:
            self.interrupt_flag = False
            raise InterruptProcessing

    async def _tick(
        self, prompt_id: str, node_id: str, value: int, maximum: int, image: Image.Image | None
    ) -> None:
        """One progress tick (main.py hijack_progress): check interrupt, progress_state,
        [type 4 preview], progress, [type 1 preview] (PROTOCOL §2)."""
        self._check_interrupt()
        self.progress_value = (value, maximum)
        self.progress.update(node_id, value, maximum)
        await self._send_progress_state()
        metadata = self.hub.supports_preview_metadata(self.client_id)
        if image is not None and metadata:
            self._check_abandoned()
            await self.hub.send_bytes(
                PREVIEW_IMAGE_WITH_METADATA, metadata_preview(image, node_id, prompt_id), self.client_id
            )
        await self._send(
            "progress",
            {"value": value, "max": maximum, "prompt_id": prompt_id, "node": node_id},
            guarded=False,
        )
        if image is not None and not metadata:
            self._check_abandoned()
            await self.hub.send_bytes(PREVIEW_IMAGE, legacy_preview(image), self.client_id)

    async def _handle_error(
        self,
        prompt_id: str,
        prompt: dict[str, Any],
        current_outputs: list[str],
        executed: list[str],
        error: dict[str, Any],
        ex: BaseException | None,
    ) -> None:
        node_id = error["node_id"]
        base = {
            "prompt_id": prompt_id,
            "node_id": node_id,
            "node_type": prompt[node_id]["class_type"],
            "executed": list(executed),
        }
        if isinstance(ex, InterruptProcessing):
            await self._add_message("execution_interrupted", base, broadcast=True)
            return
        await self._add_message(
            "execution_error",
            {
                **base,
                "exception_message": error["exception_message"],
                "exception_type": error["exception_type"],
                "traceback": error["traceback"],
                "current_inputs": error["current_inputs"],
                "current_outputs": list(current_outputs),
            },
            broadcast=False,
        )
