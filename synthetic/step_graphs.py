"""An ensemble's training step replayed as CUDA graphs, one graph per batch shape.

At the paper's small shapes one training step is a few hundred short kernels, and the host's time
to launch them, not the GPU's to run them, sets the pace (bench/NOTES-training.md: at d_model 36,
f = 4 the GPU is busy 18 ms of a 32 ms step). A CUDA graph records the step's kernels once and
replays them with one launch.

The step (forward, loss, backward, optimiser update: a *step body*) reads its inputs from
buffers on the device that keep their address; each call copies the batch into them and
replays. Every batch shape gets its own graph (each data segment has one shape; the paper's
training data has 12): its first :data:`WARMUP_STEPS` steps run eagerly (on a side stream, which
lets Triton tune and compile and autograd settle its streams), the next one is captured and every
later one replayed; all shapes' graphs share one memory pool. Those eager steps are real
training steps, so a run trains exactly the same
steps in either mode; values differ only by rounding (bf16 autocast without its weight cache).

The body must not synchronise with the host (no ``.item()``, no data-dependent shapes) and must
keep the optimiser's step count on the device (:meth:`synthetic.optim.MemberAdamW.captured_step`).
A shape whose capture fails trains eagerly from then on, with one warning.

Mode: the environment variable ``READTWICE_TRAIN_STEP`` = ``auto`` (default: graphs on CUDA,
eager elsewhere), ``graph`` or ``eager``.

Independently, ``READTWICE_COMPILE`` runs the step's forward and loss through ``torch.compile``
(:func:`compile_mode`): Inductor fuses the passes over activations between the package's own
kernels (casts, residual adds, the MLP's activation, the loss). ``0`` (default): eager; ``1``:
static shapes, each batch shape (and each ensemble size, after members finish) compiles once, in
the first of its eager warm-up steps; ``dynamic``: symbolic shapes from the start, one compile for
all batch shapes (dynamo recompiles only where a guard fails); ``auto``: dynamo's default, static
first, then a recompile that makes the sizes that changed symbolic (on the CPU: 4 compiles for
2 sequence lengths, a partial batch and a member leaving, where ``dynamic`` failed in Inductor).
A compile that fails leaves the ensemble on the eager step, with a warning (:func:`compiled`).
The CUDA graph then records the compiled kernels. Evaluation stays eager.
"""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import torch

from synthetic.devices import to_device
from synthetic.members import LabelPositions

__all__ = [
    "COMPILE_ENV",
    "MODE_ENV",
    "STEP_MODES",
    "WARMUP_STEPS",
    "StepBody",
    "StepGraphs",
    "compile_mode",
    "compiled",
    "train_step_mode",
]

MODE_ENV = "READTWICE_TRAIN_STEP"
STEP_MODES = ("auto", "graph", "eager")
COMPILE_ENV = "READTWICE_COMPILE"
#: compiled graphs dynamo keeps per function: the paper's 12 training shapes (24 with last partial
#: batches) times the ensemble sizes left as members finish
COMPILE_CACHE_LIMIT = 256
#: eager steps of a batch shape before its graph is captured
WARMUP_STEPS = 3

#: (inputs int64 [K*B, T], prefix_len int64 [K*B], label positions), all on the device -> each
#: member's loss [K] (float32, no graph); trains one step as a side effect
StepBody = Callable[[torch.Tensor, torch.Tensor, LabelPositions], torch.Tensor]
_ShapeKey = tuple[tuple[int, ...], ...]


def train_step_mode(device: torch.device) -> str:
    """``"graph"`` or ``"eager"``: how an ensemble on ``device`` runs its training steps, from
    ``READTWICE_TRAIN_STEP`` (``auto`` = graphs on CUDA only)."""
    mode = os.environ.get(MODE_ENV, "auto")
    if mode not in STEP_MODES:
        raise ValueError(f"{MODE_ENV}={mode!r}: expected one of {', '.join(STEP_MODES)}")
    if mode == "auto":
        return "graph" if device.type == "cuda" else "eager"
    if mode == "graph" and device.type != "cuda":
        raise ValueError(f"{MODE_ENV}=graph needs a CUDA device; this ensemble trains on {device}")
    return mode


def compile_mode() -> str:
    """How the training step's forward and loss run, from ``READTWICE_COMPILE``: ``"off"`` (``0``,
    the default), ``"static"`` (``1``), ``"dynamic"`` (``dynamic``) or ``"auto"`` (``auto``)."""
    value = os.environ.get(COMPILE_ENV, "0")
    modes = {"0": "off", "1": "static", "dynamic": "dynamic", "auto": "auto"}
    if value not in modes:
        raise ValueError(f"{COMPILE_ENV}={value!r}: expected 0, 1, dynamic or auto")
    return modes[value]


def compiled(fn: Callable[..., torch.Tensor], mode: str) -> Callable[..., torch.Tensor]:
    """``fn`` through ``torch.compile``: ``mode`` ``"static"`` (one compiled graph per batch shape),
    ``"dynamic"`` (symbolic shapes from the first call) or ``"auto"`` (dynamo's default: static
    first, then only the sizes that changed become symbolic, one recompile each), with dynamo's
    per-function cache raised to :data:`COMPILE_CACHE_LIMIT` so that no shape of a run falls back
    to eager for lack of room.

    A compile that fails (dynamo or Inductor raises, e.g. an undecidable symbolic stride) does not
    stop training: that call and every later one run ``fn`` eagerly, and one RuntimeWarning names
    the error (its cause, for a failed backend). The compile comes before the compiled code runs;
    where dynamo splits ``fn`` at a graph break, the part before a failing later part has run once
    more, which is harmless for the pure forward and loss this wraps (no random numbers, no
    buffers updated in place). An error while compiled kernels run (e.g. Triton's
    ``OutOfResources``) is not a compile failure: it is raised as before.
    """
    if mode not in ("static", "dynamic", "auto"):
        raise ValueError(f"compile mode {mode!r}: expected static, dynamic or auto")
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):  # the newer name, then the older
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), COMPILE_CACHE_LIMIT))
            break
    fast = torch.compile(fn, dynamic={"static": False, "dynamic": True, "auto": None}[mode])
    failed: list[str] = []

    def run(*args: Any) -> torch.Tensor:
        if not failed:
            try:
                return fast(*args)
            except torch._dynamo.exc.TorchDynamoException as err:
                cause = getattr(err, "inner_exception", None) or err  # a backend's own error
                first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
                failed.append(f"{type(cause).__name__}: {first}")
                warnings.warn(
                    f"{COMPILE_ENV}={mode}: compiling the training step failed ({failed[0]}); this "
                    "ensemble trains with the eager step from here on",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return fn(*args)

    return run


def _shape_key(inputs: torch.Tensor, prefix_len: torch.Tensor, where: LabelPositions) -> _ShapeKey:
    return (
        tuple(inputs.shape),
        tuple(prefix_len.shape),
        *(tuple(getattr(where, f.name).shape) for f in fields(where)),
    )


@dataclass
class _Captured:
    """One batch shape's graph and the device buffers it reads and writes."""

    graph: torch.cuda.CUDAGraph
    inputs: torch.Tensor
    prefix_len: torch.Tensor
    where: LabelPositions
    losses: torch.Tensor  # [K], written by every replay

    def replay(self, inputs: torch.Tensor, prefix_len: torch.Tensor, where: LabelPositions) -> torch.Tensor:
        buffers = (self.inputs, self.prefix_len, *(getattr(self.where, f.name) for f in fields(where)))
        batch = (inputs, prefix_len, *(getattr(where, f.name) for f in fields(where)))
        for buffer, values in zip(buffers, batch, strict=True):
            buffer.copy_(to_device(values, buffer.device), non_blocking=True)
        self.graph.replay()
        return self.losses.clone()


class StepGraphs:
    """Runs ``body`` once per training step, from a CUDA graph per batch shape once that shape has
    had :data:`WARMUP_STEPS` eager steps. Call it with the batch on the host (CPU tensors); it
    returns the members' losses [K] on the device. Start a new one whenever the tensors the body
    touches are replaced (the ensemble drops members)."""

    def __init__(self, body: StepBody, device: torch.device, warmup_steps: int = WARMUP_STEPS) -> None:
        if device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device; got {device}")
        if warmup_steps < 1:
            raise ValueError(
                f"warmup_steps must be >= 1 (autograd and Triton settle first); got {warmup_steps}"
            )
        self.body = body
        self.device = device
        self.warmup_steps = warmup_steps
        self.graphs: dict[_ShapeKey, _Captured] = {}
        self.eager_only: set[_ShapeKey] = set()  # shapes whose capture failed
        self.seen: dict[_ShapeKey, int] = {}
        self.side_stream = torch.cuda.Stream(device)
        # One memory pool for all shapes' graphs: each graph's activations stay reserved in its
        # pool, and a pool per shape (24 with the paper's last partial batches) would hold tens of
        # GB at d_model 128. Sharing is safe here: the graphs replay one at a time on one stream,
        # and nothing a graph writes is read after the next replay but its losses, which stay
        # referenced (so no later capture reuses them) and are copied out at once.
        self.pool = torch.cuda.graph_pool_handle()

    def __call__(self, inputs: torch.Tensor, prefix_len: torch.Tensor, where: LabelPositions) -> torch.Tensor:
        key = _shape_key(inputs, prefix_len, where)
        captured = self.graphs.get(key)
        if captured is not None:
            return captured.replay(inputs, prefix_len, where)
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.seen[key] > self.warmup_steps and key not in self.eager_only:
            captured = self._capture(key, inputs, prefix_len, where)
            if captured is not None:
                self.graphs[key] = captured
                return captured.replay(inputs, prefix_len, where)
        return self._eager(inputs, prefix_len, where)

    def _eager(self, inputs: torch.Tensor, prefix_len: torch.Tensor, where: LabelPositions) -> torch.Tensor:
        """One step on the side stream (as CUDA graphs want their warm-up)."""
        current = torch.cuda.current_stream(self.device)
        self.side_stream.wait_stream(current)
        with torch.cuda.stream(self.side_stream):
            losses = self.body(
                to_device(inputs, self.device), to_device(prefix_len, self.device), where.to(self.device)
            )
        current.wait_stream(self.side_stream)
        losses.record_stream(current)
        return losses

    def _capture(
        self, key: _ShapeKey, inputs: torch.Tensor, prefix_len: torch.Tensor, where: LabelPositions
    ) -> _Captured | None:
        """Record the body at this shape on buffers of its own (nothing runs: the caller replays).
        The buffers start as copies of this batch: valid indices while recording."""
        static_inputs, static_prefix = to_device(inputs, self.device), to_device(prefix_len, self.device)
        static_where = where.to(self.device)
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        # No collection while this one records: a dead graph the cyclic collector frees mid-capture
        # invalidates the capture (seen on an H100, bench/NOTES-training.md). Dead cycles wait for
        # the next collection after it (a gc.collect() here would cost ~0.1 s a shape).
        collecting = gc.isenabled()
        gc.disable()
        try:
            with torch.cuda.graph(graph, pool=self.pool):
                losses = self.body(static_inputs, static_prefix, static_where)
        except Exception as err:  # any capture failure: this shape trains eagerly
            self.eager_only.add(key)
            # A capture that fails ends without releasing its pool (torch leaves it recording), so
            # every later capture into it would fail too: later shapes record into a fresh pool.
            self.pool = torch.cuda.graph_pool_handle()
            warnings.warn(
                f"training step at batch shape {key[0]} could not be captured as a CUDA graph "
                f"({type(err).__name__}: {err}); it runs eagerly",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        finally:
            if collecting:
                gc.enable()
        return _Captured(graph, static_inputs, static_prefix, static_where, losses)
