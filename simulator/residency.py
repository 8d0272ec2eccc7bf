"""Which model files one simulated server holds loaded (its VRAM), and what a load costs.

Why: a GPU spends seconds to a minute loading a model it does not hold, so a pool that knows
which server has which model warm saves that time (issue W). The simulator makes the cost
observable: ``--vram N`` files fit at once (least recently used out first; default: no
limit), a file that is not resident costs its load time (``--load-seconds``, or a per-file
``load_seconds`` in the --models JSON; default 0, so a plain simulator's timings are as before).

The unit is a model file ("checkpoints/sd15.safetensors"); a checkpoint's MODEL, CLIP and VAE
are one file and load together.

Where the time goes (the executor spends it, see Executor._make_resident):

- A loader node (CheckpointLoaderSimple, UNETLoader, LoraLoader, ...) that executes pays for
  the files it brings in, inside its own execution: after its ``executing`` frame and before
  its ``progress_state`` finished / the next node's frames. A real ComfyUI reads the weights
  in the loader and moves the diffusion model to VRAM lazily, in the sampler
  (model_management.load_models_gpu); the simulator puts the whole load in the loader, which
  is where a client watching the frames sees the first cost.
- A node that uses weights on the GPU (the samplers' ``model``, ImageUpscaleWithModel's
  ``upscale_model``; Node.USES_WEIGHTS) pays for those of its files that are no longer
  resident, at its start: after its ``executing`` frame, before its first progress tick. That
  is the case of a cached loader output whose file was evicted meanwhile (two checkpoints in
  one prompt with ``--vram 1``, or POST /_sim/models {"evict": ...}): the output cache holds
  the model object, the VRAM does not, and a real server's sampler loads it back.
- A cached loader (same inputs, output still in the classic cache) costs nothing, as on a
  real server; its files are refreshed in the LRU when the sampler uses them.

A simplification, stated: the classic cache keeps only the outputs the last prompt used, so
alternating checkpoints re-execute their loader every time. A real 0.3.64 then frees the old
model (model_management keeps weak references) and reads the file again, usually from the OS
page cache; the simulator keeps the file resident by its LRU alone, so a re-executed loader of
a resident file costs nothing. The per-file LRU is the warmth a pool can learn and use.

No frame marks a load in the 0.3.64 profile: the node shows as running with no ticks. Current
ComfyUI also sends progress_state entries with ``activity: "loading"`` (issue V); that belongs
in Executor._make_resident, the one place a load is spent.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class HoldsWeights(Protocol):
    """A node value that stands for loaded weights: the model files it came from."""

    @property
    def weight_files(self) -> tuple[str, ...]: ...


def files_in(values: Iterable[Any]) -> list[str]:
    """The model files the given node values hold, in order, each once."""
    found: dict[str, None] = {}
    for value in values:
        if isinstance(value, HoldsWeights):
            found.update(dict.fromkeys(value.weight_files))
    return list(found)


class Residency:
    """The resident model files of one server, least recently used first, and load times."""

    def __init__(
        self,
        vram: int | None = None,
        load_seconds: float = 0.0,
        file_seconds: Mapping[str, float] | None = None,
    ) -> None:
        if vram is not None and vram < 1:
            raise ValueError("vram must be at least 1 model file (or None: no limit)")
        self.vram = vram
        self.load_seconds = load_seconds
        self.file_seconds: dict[str, float] = dict(file_seconds or {})
        self._lru: OrderedDict[str, None] = OrderedDict()
        self.loads = 0  # files loaded since start: what a benchmark counts

    def resident(self) -> list[str]:
        """The resident files, least recently used first (the next to go)."""
        return list(self._lru)

    def is_resident(self, file: str) -> bool:
        return file in self._lru

    def load_time(self, file: str) -> float:
        return self.file_seconds.get(file, self.load_seconds)

    def missing(self, files: Iterable[str]) -> list[str]:
        """Of ``files``, those a node must load (in order)."""
        return [file for file in files if file not in self._lru]

    def touch(self, files: Iterable[str]) -> None:
        """The resident ones of ``files`` were used now: most recently used."""
        for file in files:
            if file in self._lru:
                self._lru.move_to_end(file)

    def admit(self, file: str, in_use: Iterable[str] = ()) -> list[str]:
        """``file`` is loaded now; evict least recently used files beyond --vram, never the
        ones the loading node uses at once (``in_use``: ComfyUI frees memory for the models it
        loads, not from them). Returns the evicted files."""
        self._lru[file] = None
        self._lru.move_to_end(file)
        self.loads += 1
        keep = {file, *in_use}
        evicted: list[str] = []
        if self.vram is None:
            return evicted
        for old in list(self._lru):
            if len(self._lru) <= self.vram:
                break
            if old not in keep:
                del self._lru[old]
                evicted.append(old)
        return evicted

    def evict(self, files: Iterable[str]) -> None:
        for file in files:
            self._lru.pop(file, None)

    def clear(self) -> None:
        """Nothing loaded, as after a restart."""
        self._lru.clear()

    def keep_only(self, present: Iterable[str]) -> None:
        """Forget resident files that are no longer on the server (deleted from its folders)."""
        still = set(present)
        self.evict([file for file in self._lru if file not in still])
