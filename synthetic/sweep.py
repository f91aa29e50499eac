"""Experiments from TOML, their grids, and resumable sweeps on local workers or Ray.

An experiment file (``synthetic/experiments/<name>.toml``) names the model variants and, per
profile (``quick`` for a CPU, ``paper`` for a GPU), the data, the base model and training settings
and the grid::

    name = "sd_order"
    description = "..."

    [[variants]]
    name = "Based (causal)"
    pattern = ["base_conv", {kind = "based", num_heads = 2, causal = true}]
    passes = 1                       # JR-p of the data (2 = JRT-Prompt)

    [profiles.quick]
    description = "..."
    data = {task = "sd", vocab_size = 64, train_segments = [...], test_segments = [...]}
    model = {n_layers = 4}           # ModelConfig fields except d_model / pattern
    train = {epochs = 8, batch_size = 32}
    [profiles.quick.grid]
    d_model = [16, 32]
    feature_dim = [2, 4]
    lr = [3e-3]
    seed = [0, 1]

Grid keys: ``seed`` sets the run's initialisation seed AND ``data.seed`` (each seed is a fresh
dataset and a fresh init, as the paper's two seeds); a :class:`~synthetic.model.ModelConfig` field
(``d_model``, ``n_layers``, ...) or a :class:`~synthetic.config.TrainConfig` field (``lr``,
``epochs``, ...) sets that field; any other key must be a field of some mixer (``feature_dim``,
``d_state``, ``window``, ...) and sets it on every mixer of a variant's pattern that has it. A
variant none of whose mixers has such a field does not multiply along that axis. Unknown keys
anywhere raise an error naming the key.

:func:`run_sweep` trains every run of a profile that is not yet in the results store. Runs that
share an architecture and data shapes (:func:`synthetic.ensemble.ensemble_key`) are grouped into
ensembles of at most ``ensemble`` members (:func:`plan_ensembles`), each trained as one stacked
model in one process; members differ in seed, learning rate, init and the other per-run fields.
Each ensemble's runs are claimed in the store before training, so concurrent sweeps on one
folder never train a run twice. A diverged run is recorded as ``failed`` (a result); an
environment error as ``error`` (retried by the next sweep). Ensembles run in this process
(``workers=1``), on N local worker processes (:mod:`synthetic.workers`), or as Ray tasks
(``runner="ray"``). With ``save_models`` (``run --save-models``, or ``save_models = true`` in a
profile) each ``ok`` run's trained weights are kept beside its record (:mod:`synthetic.weights`).

Faults cost as little as they can: a worker process that dies (SIGKILL, the OOM killer) or a Ray
task that is lost costs its ensemble's unrecorded runs, recorded as ``error`` with the signal or
exit code, and the sweep goes on with a fresh worker; a process whose CUDA context an error left
unusable (an illegal memory access, a device-side assert) trains nothing more. An interrupt
(Ctrl-C) drops the ensembles in flight, releases their claims and raises
:class:`SweepInterrupted`; a rerun trains what is missing.

Local workers are started with ``spawn`` (safe with torch threads and CUDA): a script that calls
:func:`run_sweep` with ``workers > 1`` needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import sys
import time
import tomllib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator
from tqdm.auto import tqdm

from synthetic import interrupts, snapshots
from synthetic.config import RunConfig, TrainConfig
from synthetic.devices import context_unusable
from synthetic.files import write_whole
from synthetic.layers import MIXER_CONFIGS, MixerConfig, parse_mixer
from synthetic.model import ModelConfig
from synthetic.record import Provenance, RunRecord, error_record
from synthetic.results import ResultsStore, model_path, results_path
from synthetic.train import Keep, Trained, ensemble_outputs
from synthetic.workers import Item, WorkerLost, WorkerPool, WorkerUnusable

EXPERIMENTS_PACKAGE = "synthetic.experiments"
SPECIAL_AXES = ("seed",)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Variant(_Strict):
    """A model family of an experiment: its mixer pattern and the JR-p of its data."""

    name: str = Field(min_length=1)
    pattern: tuple[MixerConfig, ...] = Field(min_length=1)
    passes: int = Field(1, ge=1)
    stage: int = Field(0, ge=0)  # runs of lower stages train first in a profile ordered by "stage"
    description: str = ""

    @field_validator("pattern", mode="before")
    @classmethod
    def _kinds_to_configs(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(parse_mixer(v) if isinstance(v, str) else v for v in value)
        return value


class Profile(_Strict):
    """One size of an experiment: data (a DataConfig without ``passes``, set by the variant),
    base model fields, training fields and the grid (key -> list of values)."""

    description: str = ""
    data: dict[str, Any]
    model: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    variants: list[str] | None = None  # names of the variants this profile runs (default: all)
    order: list[str] | None = None  # training order: "stage", "variant" or grid keys, first decides
    # keep each run's trained weights (run --save-models), or only those of the models that check
    # one set against the other ("checking": the paper profiles, whose weights come back from a
    # GPU call only so); not hashed
    save_models: StrictBool | Literal["checking"] = False
    analysis: Literal["none", "intervention", "checking", "full"] = (
        "none"  # analyse each model (run --analysis)
    )

    @field_validator("data")
    @classmethod
    def _no_passes(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "passes" in value:
            raise ValueError("data.passes is set per variant (variants[].passes), not in the profile")
        return value

    @field_validator("model")
    @classmethod
    def _no_pattern(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "pattern" in value:
            raise ValueError("model.pattern is set per variant (variants[].pattern), not in the profile")
        return value

    @field_validator("grid")
    @classmethod
    def _non_empty_axes(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"grid.{key} is an empty list; give at least one value")
            if len(set(map(repr, values))) != len(values):
                raise ValueError(f"grid.{key}={values} repeats a value")
            tables = [isinstance(v, dict) for v in values]
            if any(tables) and not all(tables):
                raise ValueError(
                    f"grid.{key}={values} mixes tables and plain values; a bundle axis takes tables only"
                )
        return value

    @field_validator("order")
    @classmethod
    def _unique_order_keys(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"order={value} repeats a key")
        return value


class Experiment(_Strict):
    """An experiment file (see the module docstring)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    variants: tuple[Variant, ...] = Field(min_length=1)
    profiles: dict[str, Profile] = Field(min_length=1)

    @field_validator("variants")
    @classmethod
    def _unique_variant_names(cls, value: tuple[Variant, ...]) -> tuple[Variant, ...]:
        names = [v.name for v in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"variant names must be unique; repeated: {dupes}")
        return value

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise ValueError(
                f"experiment {self.name!r} has no profile {name!r}; it has {sorted(self.profiles)}"
            )
        return self.profiles[name]


# ------------------------------------------------------------------------------------- loading


def available_experiments() -> dict[str, Path]:
    """Experiment name -> path of every TOML file shipped in ``synthetic/experiments``."""
    folder = resources.files(EXPERIMENTS_PACKAGE)
    out = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name[: -len(".toml")]] = Path(str(entry))
    return dict(sorted(out.items()))


def load_experiment(name_or_path: str | Path) -> Experiment:
    """Parse an experiment by name (a file of ``synthetic/experiments``) or by path.

    Raises ValueError naming the file and the offending key(s) for any schema error.
    """
    path = Path(name_or_path)
    if not path.suffix:
        known = available_experiments()
        if str(name_or_path) not in known:
            raise ValueError(f"unknown experiment {str(name_or_path)!r}; known: {', '.join(known)}")
        path = known[str(name_or_path)]
    if not path.exists():
        raise FileNotFoundError(f"experiment file {path} does not exist")
    with path.open("rb") as fh:
        try:
            raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: invalid TOML: {err}") from None
    return parse_experiment(raw, source=str(path))


def _format_errors(err: ValidationError, prefix: str = "") -> str:
    lines = []
    for e in err.errors():
        loc = prefix + ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"  {loc}: unknown key {e['loc'][-1]!r}")
        else:
            lines.append(f"  {loc}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def parse_experiment(raw: dict[str, Any], *, source: str = "<experiment>") -> Experiment:
    """An :class:`Experiment` from a parsed TOML dict; every profile is expanded once so that
    errors in data / model / train / grid surface here, not in the middle of a sweep."""
    try:
        exp = Experiment.model_validate(raw)
    except ValidationError as err:
        raise ValueError(f"{source}: invalid experiment:\n{_format_errors(err)}") from None
    for profile in exp.profiles:
        try:
            expand(exp, profile)
        except ValidationError as err:
            raise ValueError(
                f"{source}: invalid profile {profile!r}:\n{_format_errors(err, f'profiles.{profile}.')}"
            ) from None
        except ValueError as err:
            raise ValueError(f"{source}: profiles.{profile}: {err}") from None
    return exp


# ------------------------------------------------------------------------------------- the grid


def _axis_kind(key: str, exp: Experiment) -> str:
    if key in SPECIAL_AXES:
        return key
    if key in ModelConfig.model_fields and key != "pattern":
        return "model"
    if key in TrainConfig.model_fields:
        return "train"
    if any(
        key in MIXER_CONFIGS[v.kind].model_fields and key != "kind"
        for var in exp.variants
        for v in var.pattern
    ):
        return "mixer"
    model_keys = ", ".join(f for f in ModelConfig.model_fields if f != "pattern")
    raise ValueError(
        f"grid key {key!r} is not 'seed', a model field ({model_keys}), a train field "
        f"({', '.join(TrainConfig.model_fields)}) or a field of any mixer in the variants"
    )


def _bundle_kinds(key: str, values: list[Any], exp: Experiment, plain_keys: set[str]) -> dict[str, str]:
    """Field -> axis kind of every field the tables of bundle axis ``key`` set (each classified
    like a grid key; not ``seed``, not a field another grid key sets)."""
    kinds: dict[str, str] = {}
    for table in values:
        for field_name in table:
            if field_name in SPECIAL_AXES or field_name in plain_keys:
                raise ValueError(
                    f"grid.{key}: a bundle may not set {field_name!r} (a special axis or another grid key)"
                )
            kinds[field_name] = _axis_kind(field_name, exp)
    return kinds


def _order_key(
    prof: Profile, profile: str, variants: list[Variant]
) -> Callable[[Variant, dict[str, Any]], tuple]:
    """The sort key of ``prof.order``: per key, the variant's stage, its position among the
    profile's variants, or the position of the run's value in the grid list (-1: the variant
    does not multiply along that axis)."""
    order = prof.order or []
    allowed = {"stage", "variant", *prof.grid}
    unknown = [k for k in order if k not in allowed]
    if unknown:
        raise ValueError(
            f"profiles.{profile}.order has unknown key(s) {unknown}; allowed: 'stage', 'variant' or "
            f"a grid key ({', '.join(prof.grid) or 'none'})"
        )
    position = {v.name: i for i, v in enumerate(variants)}

    def rank(variant: Variant, setting: dict[str, Any]) -> tuple:
        ranks = []
        for key in order:
            if key == "stage":
                ranks.append(variant.stage)
            elif key == "variant":
                ranks.append(position[variant.name])
            else:
                ranks.append(prof.grid[key].index(setting[key]) if key in setting else -1)
        return tuple(ranks)

    return rank


def expand(exp: Experiment, profile: str) -> list[RunConfig]:
    """All runs of ``profile``: variants x grid, as frozen RunConfigs in a deterministic order
    (variant by variant, then the grid's product; with ``order``, stably sorted by its keys).

    A grid axis whose values are tables is a bundle: each table sets several fields at once
    (e.g. ``protocol = [{init = "torch"}, {init = "reference", optimizer = "reference"}]``).

    Raises ValueError for an unknown grid key or variant name, and pydantic's ValidationError for
    bad data / model / train values.
    """
    prof = exp.profile(profile)
    variants = list(exp.variants)
    if prof.variants is not None:
        names = {v.name for v in variants}
        unknown = [n for n in prof.variants if n not in names]
        if unknown:
            raise ValueError(
                f"profiles.{profile}.variants names unknown variant(s) {unknown}; known: {sorted(names)}"
            )
        variants = [v for v in variants if v.name in prof.variants]
    bundles = {key for key, values in prof.grid.items() if isinstance(values[0], dict)}
    plain = set(prof.grid) - bundles
    kinds = {key: "bundle" if key in bundles else _axis_kind(key, exp) for key in prof.grid}
    for key in sorted(bundles):
        kinds.update(_bundle_kinds(key, prof.grid[key], exp, plain))
    rank = _order_key(prof, profile, variants)
    runs: list[RunConfig] = []
    ranks: list[tuple] = []
    seen: dict[str, int] = {}
    for variant in variants:
        # axes this variant multiplies along (mixer axes only if one of its mixers has the field)
        axes = [
            k
            for k in prof.grid
            if kinds[k] != "mixer" or any(k in MIXER_CONFIGS[m.kind].model_fields for m in variant.pattern)
        ]
        for values in itertools.product(*(prof.grid[k] for k in axes)):
            chosen = dict(zip(axes, values, strict=True))
            setting = {k: v for k, v in chosen.items() if k not in bundles}
            for key in bundles & chosen.keys():
                setting.update(chosen[key])
            model_fields = {**prof.model, **{k: v for k, v in setting.items() if kinds[k] == "model"}}
            train_fields = {**prof.train, **{k: v for k, v in setting.items() if kinds[k] == "train"}}
            mixer_fields = {k: v for k, v in setting.items() if kinds[k] == "mixer"}
            updated = [
                m.model_copy(
                    update={k: v for k, v in mixer_fields.items() if k in MIXER_CONFIGS[m.kind].model_fields}
                )
                for m in variant.pattern
            ]
            pattern = [parse_mixer(m.model_dump()) for m in updated]  # re-validate updated fields
            seed = setting.get("seed", prof.data.get("seed", 0))
            data = {**prof.data, "passes": variant.passes, "seed": seed}
            cfg = RunConfig.model_validate(
                {
                    "experiment": exp.name,
                    "profile": profile,
                    "variant": variant.name,
                    "seed": seed,
                    "data": data,
                    "model": {**model_fields, "pattern": pattern},
                    "train": train_fields,
                }
            )
            h = cfg.config_hash()
            if h in seen:
                raise ValueError(
                    f"two grid points give the same run (hash {h}): check the grid for duplicates"
                )
            seen[h] = len(runs)
            runs.append(cfg)
            ranks.append(rank(variant, chosen))
    order = sorted(range(len(runs)), key=ranks.__getitem__)  # stable: ties keep the expansion order
    return [runs[i] for i in order]


# ----------------------------------------------------------------------------------------- runners


@dataclass
class SweepSummary:
    """What a sweep did: runs in the grid, skipped as already recorded (or being trained by another
    sweep), and of the runs trained now: ok, failed (diverged: a result) and errored (the
    environment failed: not a result, retried by the next sweep); ``ensembles`` trained now."""

    path: Path
    total: int
    skipped: int
    ok: int = 0
    failed: int = 0
    errored: int = 0
    ensembles: int = 0
    claimed_elsewhere: int = 0
    not_started: int = 0  # runs left for the next sweep by its time limit
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        busy = f", {self.claimed_elsewhere} being trained by another sweep" if self.claimed_elsewhere else ""
        later = f"; {self.not_started} not started (time limit)" if self.not_started else ""
        return (
            f"{self.path}: {self.total} runs in the grid, {self.skipped} already recorded{busy}; "
            f"now {self.ok} ok, {self.failed} failed (diverged), {self.errored} errored "
            f"in {self.ensembles} ensemble(s){later}"
        )

    @property
    def recorded(self) -> int:
        """Runs this sweep recorded (ok, failed or errored)."""
        return self.ok + self.failed + self.errored

    def count(self, record: RunRecord) -> None:
        """Count a stored record by its status (failures also as a line in ``failures``)."""
        status = record["status"]
        if status == "ok":
            self.ok += 1
            return
        if status == "failed":
            self.failed += 1
        else:
            self.errored += 1
        self.failures.append(
            f"{status}: {record['summary']['variant']} {record['config_hash']}: {record.get('error')}"
        )


def default_ensemble_size(device: str) -> int:
    """Members per ensemble when ``--ensemble`` is not given: :data:`CPU_ENSEMBLE` on a CPU,
    :data:`GPU_ENSEMBLE` on a GPU (see ``bench/train_throughput.py`` for the measurements)."""
    return GPU_ENSEMBLE if device.startswith("cuda") else CPU_ENSEMBLE


#: default members per ensemble. CPU: on one core of the 2-core machine ensembles of 2-4 gave the
#: most tokens/s per member, 8 no more (bench/train_throughput.py,
#: figures/data/train_throughput_cpu_quick.csv). GPU (an H200, bf16, the paper profile's smallest
#: and largest shapes, figures/data/train_throughput_cuda_paper.csv): 32 members give 89-100% of
#: the tokens/s of 64, and 1.6-2.7x those of 8 at d_model 36 (1.1-1.3x at d_model 128).
CPU_ENSEMBLE = 4
GPU_ENSEMBLE = 32


def plan_ensembles(
    configs: Sequence[RunConfig],
    max_members: int,
    in_flight: Sequence[list[str]] = (),
    cap: Callable[[RunConfig], int] | None = None,
) -> list[list[RunConfig]]:
    """Group runs that can train together (:func:`synthetic.ensemble.ensemble_key`) into ensembles
    of at most ``max_members`` (and at most ``cap(cfg)`` for a group whose first run is ``cfg``,
    never below 1: :func:`snapshot_cap`), in the order of ``configs``; a group of n runs is cut
    into ceil(n / most) ensembles of nearly equal size.

    ``in_flight``: the runs (config hashes) of saved ensemble snapshots, newest first
    (:func:`synthetic.snapshots.in_flight`). Their runs among ``configs`` come first, grouped as
    they were, so that each such ensemble goes on from its snapshot; the rest is grouped as above."""
    from synthetic.ensemble import ensemble_key

    if isinstance(max_members, bool) or not isinstance(max_members, int) or max_members < 1:
        raise ValueError(f"ensemble={max_members!r} must be an integer >= 1 (members per ensemble)")
    by_hash = {c.config_hash(): c for c in configs}
    out: list[list[RunConfig]] = []
    for members in in_flight:
        resumed = [by_hash.pop(h) for h in members if h in by_hash]
        out.extend(resumed[i : i + max_members] for i in range(0, len(resumed), max_members))
    groups: dict[str, list[RunConfig]] = {}
    for cfg in configs:
        if cfg.config_hash() in by_hash:
            groups.setdefault(ensemble_key(cfg), []).append(cfg)
    for group in groups.values():
        most = max_members if cap is None else max(1, min(max_members, cap(group[0])))
        parts = -(-len(group) // most)
        size = -(-len(group) // parts)
        out.extend(group[i : i + size] for i in range(0, len(group), size))
    return out


def snapshot_cap(snapshot_mb: float) -> Callable[[RunConfig], int]:
    """Members per ensemble whose snapshot (:mod:`synthetic.snapshots`: 4 bytes x
    ``len(TENSORS)`` a parameter a member, fp32 weights and Adam's two moments) stays within
    ``snapshot_mb`` megabytes (10^6 bytes): ``cap(cfg)`` for :func:`plan_ensembles` (0 when one
    member is larger; the plan still trains it alone). For jobs that carry their snapshots in a
    size-limited transfer (``bench/gpu_session.sh paper``)."""
    if isinstance(snapshot_mb, bool) or not isinstance(snapshot_mb, int | float):
        raise TypeError(f"snapshot_mb={snapshot_mb!r} must be a number of megabytes")
    if not (math.isfinite(snapshot_mb) and snapshot_mb > 0):
        raise ValueError(f"snapshot_mb={snapshot_mb!r} must be a finite number of megabytes > 0")
    from synthetic.model import build_model

    sizes: dict[tuple[str, int], int] = {}  # bytes a member, by model and vocabulary

    def cap(cfg: RunConfig) -> int:
        key = (cfg.model.model_dump_json(), cfg.data.vocab_size)
        if key not in sizes:
            params = build_model(cfg.model, cfg.data.vocab_size).num_parameters()
            sizes[key] = 4 * len(snapshots.TENSORS) * params
        return int(snapshot_mb * 1e6 // sizes[key])

    return cap


def _worker_init(threads: int) -> None:
    """Set the worker's torch threads; on Linux, also ask for SIGTERM when the parent dies, so that
    killing a sweep does not leave workers training orphaned runs."""
    import torch

    torch.set_num_threads(threads)
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:  # best effort: no libc of that name
            pass


def _train_jsons(cfg_jsons: list[str], device: str | None, keep: Keep) -> Iterator[Trained]:
    """Train the ensemble of these configs (JSON, as workers and Ray tasks receive them)."""
    cfgs = [RunConfig.model_validate_json(c) for c in cfg_jsons]
    return ensemble_outputs(cfgs, device=device, keep=keep)


def _watch_context(outputs: Iterable[Trained]) -> Generator[Trained, None, str | None]:
    """Pass ``outputs`` on; return (as the generator's value) the error after which this
    process's device context is unusable (:func:`synthetic.devices.context_unusable`), if any."""
    broken = None
    for out in outputs:
        yield out
        error = out.record.get("error")
        if broken is None and out.record["status"] == "error" and context_unusable(error):
            broken = error
    return broken


def _ensemble_task(payload: tuple[list[str], str | None, Keep]) -> Generator[Trained, None, None]:
    """Worker entry point (module-level so that spawn can pickle it): train one ensemble, each
    run's output as its member finishes; after the last, raise WorkerUnusable if the device
    context broke, so that the worker exits and a fresh process trains the next ensemble."""
    broken = yield from _watch_context(_train_jsons(*payload))
    if broken is not None:
        raise WorkerUnusable(f"the device context is unusable after: {broken}")


def _run_ensemble(cfg_jsons: list[str], device: str | None, keep: Keep) -> list[Trained]:
    """Ray task (module-level so that Ray can pickle it): train one ensemble, all outputs at its end."""
    return list(_train_jsons(cfg_jsons, device, keep))


def _gpu_devices() -> list[str]:
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def _device_for(cfg: RunConfig, i: int, gpus: list[str]) -> str | None:
    if cfg.train.device in ("auto", "cuda") and gpus:
        return gpus[i % len(gpus)]
    return None


def _on_terminal() -> bool:
    return sys.stderr.isatty()


class _Progress:
    """A progress bar on a terminal; elsewhere (a file, a pipe, a CI log) one line per finished run."""

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = tqdm(total=total, desc=desc, unit="run") if enabled and _on_terminal() else None
        self.done = 0
        self.total = total
        self.desc = desc

    def record(self, record: RunRecord, summary: SweepSummary) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(ok=summary.ok, failed=summary.failed, errored=summary.errored, refresh=False)
        elif self.enabled:
            acc = record.get("accuracy")
            what = f"accuracy {acc:.3f}" if isinstance(acc, float) else str(record.get("error"))
            s = record["summary"]
            print(
                f"{self.desc} [{self.done}/{self.total}] {record['status']}: {s['variant']} "
                f"d_model={s['d_model']} lr={s['lr']:g} seed={s['seed']} {record['config_hash']}: {what}",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class TimeLimit:
    """No ensemble starts that would end more than ``limit_s`` seconds after the sweep began,
    judged by the longest ensemble that finished so far in this sweep (before one has finished,
    any ensemble starts while the limit has not passed). None: no limit. ``clock``: seconds,
    monotonic."""

    def __init__(self, limit_s: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        if limit_s is not None and not (math.isfinite(limit_s) and limit_s >= 0):
            raise ValueError(f"time_limit={limit_s!r} must be a finite number of seconds >= 0 (or None)")
        self.limit_s = limit_s
        self.clock = clock
        self.t0 = clock()
        self.longest = 0.0  # seconds, the longest ensemble finished so far

    def finished(self, seconds: float) -> None:
        """An ensemble of this sweep finished after ``seconds``."""
        self.longest = max(self.longest, seconds)

    def allows_start(self) -> bool:
        """Whether an ensemble starting now is expected to end within the limit."""
        return self.limit_s is None or self.clock() - self.t0 + self.longest <= self.limit_s


@dataclass
class _Claims:
    """Claims an ensemble's runs in the store just before it is trained (so that concurrent sweeps
    share the work), counting in ``summary`` the runs claimed elsewhere and the ensembles taken;
    past the time limit it claims nothing and counts the ensemble's runs as not started."""

    store: ResultsStore
    summary: SweepSummary
    retry_failed: bool
    time_limit: TimeLimit = field(default_factory=lambda: TimeLimit(None))

    def __call__(self, group: list[RunConfig]) -> list[RunConfig]:
        if not self.time_limit.allows_start():
            self.summary.not_started += len(group)
            return []
        mine = self.store.claim([c.config_hash() for c in group], retry_failed=self.retry_failed)
        self.summary.claimed_elsewhere += len(group) - len(mine)
        if mine:
            self.summary.ensembles += 1
        return [c for c in group if c.config_hash() in mine]


@dataclass
class _InFlight:
    """An ensemble handed to a worker process or a Ray task: its runs, the provenance and clock of
    its start, and the hashes of its runs recorded so far."""

    cfgs: list[RunConfig]
    provenance: Provenance
    t0: float = field(default_factory=time.perf_counter)
    recorded: set[str] = field(default_factory=set)

    def lost(self, err: BaseException) -> Iterator[Trained]:
        """An ``error`` record, saying ``err``, for each of its runs not recorded (the process that
        trained them is gone; the next sweep trains them again)."""
        elapsed = time.perf_counter() - self.t0
        for cfg in self.cfgs:
            if cfg.config_hash() not in self.recorded:
                yield Trained(error_record(cfg, self.provenance, err, elapsed, len(self.cfgs)))


def _submissions(
    plan: list[list[RunConfig]], claim: _Claims, gpus: list[str], keep: Keep
) -> Iterator[tuple[_InFlight, tuple[list[str], str | None, Keep]]]:
    """Each ensemble of ``plan`` whose claim got runs, when asked for the next (claimed at that
    moment): what the driver keeps of it and what its worker or task is sent."""
    for i, group in enumerate(plan):
        # SIGINT held back while configs are hashed and serialised: a KeyboardInterrupt raised in
        # pydantic's discriminator callback comes out as a serializer warning, not an interrupt
        with interrupts.deferred():
            mine = claim(group)
            payload = (
                ([c.model_dump_json() for c in mine], _device_for(mine[0], i, gpus), keep) if mine else None
            )
        if mine and payload is not None:
            yield _InFlight(mine, Provenance.now()), payload


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by an interrupt (Ctrl-C): ``summary`` counts the runs recorded before it,
    ``dropped`` the runs that were in flight (not recorded; their claims were released, so the
    same command trains them at once)."""

    def __init__(self, summary: SweepSummary, dropped: int) -> None:
        super().__init__(summary, dropped)
        self.summary = summary
        self.dropped = dropped

    def __str__(self) -> str:
        n = self.summary.recorded
        return (
            f"interrupted: {n} run{'s' * (n != 1)} recorded, {self.dropped} in flight dropped; "
            "run the same command to resume"
        )


def run_sweep(
    exp: Experiment | str | Path,
    profile: str,
    *,
    results_dir: str | Path = "results",
    workers: int = 1,
    runner: Literal["local", "ray"] = "local",
    ensemble: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    only: Callable[[RunConfig], bool] | None = None,
    on_record: Callable[[RunRecord], None] | None = None,
    ray_address: str | None = None,
    gpus_per_run: float = 1.0,
    skip_bad_lines: bool = False,
    save_models: bool | str | None = None,
    analysis: str | None = None,
    time_limit: float | None = None,
    use_snapshots: bool = True,
    snapshot_mb: float | None = None,
) -> SweepSummary:
    """Train every run of ``profile`` that is not yet recorded, as ensembles, and append each record.

    workers       local worker processes (1: train in this process), each training one ensemble at
                  a time. With CUDA, ensembles are spread over the visible GPUs round-robin.
    runner        "local" or "ray" (needs the optional ``ray`` package): one Ray task per ensemble;
                  ``ray_address`` joins a cluster (None: start or reuse a local one),
                  ``gpus_per_run`` GPUs per task (ignored on a cluster without GPUs)
    ensemble      most members per ensemble (None: :func:`default_ensemble_size` of the device)
    retry_failed  train again runs whose last record is ``failed`` (``error`` records are always
                  retried: they are not results)
    only          optional filter on the RunConfigs
    on_record     called with each record after it is stored (an exception from it stops the
                  sweep, as an interrupt would)
    skip_bad_lines  skip (and report) lines of the results file that are not run records
    save_models   keep each ``ok`` run's trained weights as ``models/<config_hash>.safetensors``
                  beside ``runs.jsonl`` (written before its record; the record's ``model_file``
                  names it; :func:`synthetic.results.load_model` reads it back); "checking":
                  only those of the runs whose analysis finds that they check one set against
                  the other; None: the profile's ``save_models`` (default off)
    analysis      analyse each ``ok`` run's trained model of an SD task before it is dropped and
                  store the numbers in its record's ``mechanism`` field: "none", "intervention"
                  (the copy intervention and the order effect at matched copy positions, selected
                  and placed), "checking" (and the state probes of the models that check one set
                  against the other) or "full" (and the state probes of every model); None: the
                  profile's ``analysis``
                  (default "none")
    time_limit    seconds: start no ensemble expected to end later than this after the sweep
                  began (:class:`TimeLimit`, judged by the longest ensemble finished so far);
                  the runs left are counted in ``not_started`` for the next sweep. For jobs with
                  a hard end (a GPU lease): ensembles cut off there would be lost. Local runners
                  only (Ray tasks are all submitted at the start).
    use_snapshots  each ensemble saves its state after every evaluation in ``snapshots/`` beside
                  ``runs.jsonl`` (one file an ensemble, deleted once all its runs are recorded),
                  the runs of saved snapshots are planned as they were grouped, and each such
                  ensemble goes on from its snapshot (:mod:`synthetic.snapshots`): an interrupted
                  sweep loses at most the steps since each ensemble's last evaluation. Off: every
                  ensemble starts from scratch and saves nothing.
    snapshot_mb   most megabytes one ensemble's snapshot may take: fewer members per ensemble
                  where the model is large (:func:`snapshot_cap`; None: no limit). Snapshots that
                  travel with a job whose transfer is limited.

    The runners are generators of records (in this process and from worker processes, each as
    its member finishes; from Ray tasks, each ensemble's when it ends); this function appends each
    one to the store as it comes. Concurrency: each ensemble's runs are claimed in the results
    store before training (:meth:`synthetic.results.ResultsStore.claim`), so sweeps that share a
    results folder (or Ray drivers, or processes on several hosts with a shared file system) never
    train a run twice; a run claimed by a live sweep elsewhere is left to it.

    Faults: a worker process that dies (killed, out of memory) or a Ray task that is lost costs
    its ensemble's unrecorded runs, recorded as ``error`` with how it died; the worker is replaced
    and the sweep goes on. After an error that leaves a process's CUDA context unusable
    (:func:`synthetic.devices.context_unusable`) that process trains nothing more: a worker exits
    and is replaced; this process (``workers=1``) hands the remaining ensembles to a fresh worker
    process. An interrupt (KeyboardInterrupt) stops the workers, releases the claims of the runs
    in flight and raises :class:`SweepInterrupted` (a KeyboardInterrupt) with the counts.
    """
    if not isinstance(exp, Experiment):
        exp = load_experiment(exp)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} must be an integer >= 1")
    if runner not in ("local", "ray"):
        raise ValueError(f"runner={runner!r}; allowed: local, ray")
    if not (isinstance(gpus_per_run, int | float) and math.isfinite(gpus_per_run) and gpus_per_run > 0):
        raise ValueError(f"gpus_per_run={gpus_per_run!r} must be a finite number > 0")
    if save_models is not None and not isinstance(save_models, bool) and save_models != "checking":
        raise TypeError(
            f"save_models={save_models!r} must be True, False, 'checking' or None (the profile's)"
        )
    if not isinstance(use_snapshots, bool):
        raise TypeError(f"use_snapshots={use_snapshots!r} must be True or False")
    cap = None if snapshot_mb is None else snapshot_cap(snapshot_mb)
    if time_limit is not None and runner == "ray":
        raise ValueError("time_limit works with the local runner only (Ray tasks are all submitted at once)")
    limit = TimeLimit(time_limit)
    prof = exp.profile(profile)
    store = ResultsStore(results_path(results_dir, exp.name, profile), skip_bad_lines=skip_bad_lines)
    keep = Keep(
        weights=prof.save_models if save_models is None else save_models,
        analysis=prof.analysis if analysis is None else analysis,
        snapshots=str(snapshots.folder_of(store.path).resolve()) if use_snapshots else None,
    )
    if keep.analysis != "none":  # a bad READTWICE_ANALYSIS_TOKENS stops the sweep here, not each
        from synthetic.analysis.intervention import batch_tokens_from_env  # run's analysis later

        batch_tokens_from_env()
    configs = [c for c in expand(exp, profile) if only is None or only(c)]
    done = store.done_hashes(include_failed=not retry_failed)
    folder = snapshots.folder_of(store.path) if use_snapshots else None
    snapshots.prune(folder, done)  # the snapshots of ensembles whose runs are all recorded now
    todo = [c for c in configs if c.config_hash() not in done]
    summary = SweepSummary(store.path, total=len(configs), skipped=len(configs) - len(todo))
    for line in store.bad_lines:
        summary.failures.append(f"skipped bad line {line}")
    if not todo:
        return summary
    gpus = _gpu_devices()
    if ensemble is None:
        ensemble = default_ensemble_size(gpus[0] if gpus and todo[0].train.device != "cpu" else "cpu")
    plan = plan_ensembles(todo, ensemble, snapshots.in_flight(folder), cap)
    claim = _Claims(store, summary, retry_failed, limit)
    refresh_every = store.lease_s / 2
    outputs: Generator[Trained, None, None]
    if runner == "ray":
        outputs = _ray_records(plan, claim, ray_address, gpus_per_run, keep, store.refresh, refresh_every)
    elif workers == 1:
        outputs = _local_records(
            plan, claim, gpus, progress and _on_terminal(), keep, store.refresh, refresh_every
        )
    else:
        outputs = _pool_records(plan, workers, claim, gpus, keep, store.refresh, refresh_every)
    bar = _Progress(len(todo), f"{exp.name}/{profile}", progress)
    interrupted = False
    try:
        with contextlib.closing(outputs):  # an interrupt stops the runner (and its workers) here
            for out in outputs:
                with interrupts.deferred():  # a record is written and counted whole, or not at all
                    if out.weights is not None:  # the weights first: a record names only a kept file
                        write_whole(model_path(store.path, out.record["config_hash"]), out.weights)
                    store.append(out.record)
                    summary.count(out.record)
                bar.record(out.record, summary)
                if on_record is not None:
                    on_record(out.record)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        dropped = store.release()  # whatever this process still holds was not recorded
        snapshots.prune(folder, store.done_hashes(include_failed=not retry_failed))
    if interrupted:
        raise SweepInterrupted(summary, len(dropped))
    return summary


def _local_records(
    plan: list[list[RunConfig]],
    claim: _Claims,
    gpus: list[str],
    progress: bool,
    keep: Keep,
    refresh: Callable[[], object],
    refresh_every: float,
) -> Generator[Trained, None, None]:
    """Ensembles one after the other in this process; each run's output as soon as its member
    finishes. After an error that leaves this process's CUDA context unusable, the remaining
    ensembles go to one fresh worker process (:func:`_pool_records`)."""
    for i, group in enumerate(plan):
        mine = claim(group)
        if not mine:
            continue
        device = _device_for(mine[0], i, gpus)
        outputs = ensemble_outputs(mine, device=device, progress=progress, keep=keep)
        t0 = time.perf_counter()
        broken = yield from _watch_context(outputs)
        claim.time_limit.finished(time.perf_counter() - t0)
        if broken is not None:
            yield from _pool_records(plan[i + 1 :], 1, claim, gpus, keep, refresh, refresh_every)
            return


def _pool_records(
    plan: list[list[RunConfig]],
    workers: int,
    claim: _Claims,
    gpus: list[str],
    keep: Keep,
    refresh: Callable[[], object],
    refresh_every: float,
) -> Generator[Trained, None, None]:
    """Ensembles on ``workers`` spawned processes (:class:`synthetic.workers.WorkerPool`), at most
    ``workers`` in flight; each ensemble is claimed just before it is handed out, and each run's
    output comes as its member finishes. A worker that dies costs its ensemble's unrecorded runs
    (recorded as errors) and is replaced."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool: WorkerPool[_InFlight] = WorkerPool(
        _ensemble_task, workers, initializer=_worker_init, initargs=(threads,)
    )
    events = pool.run(_submissions(plan, claim, gpus, keep), on_idle=refresh, idle_every=refresh_every)
    with contextlib.closing(events):  # closing this generator stops the workers
        for event in events:
            if isinstance(event, Item):
                out: Trained = event.value
                event.task.recorded.add(out.record["config_hash"])
                yield out
            elif event.error is not None:
                yield from event.task.lost(event.error)
            else:
                claim.time_limit.finished(time.perf_counter() - event.task.t0)


#: times Ray starts a task again whose worker or node died (then its runs are recorded as errors)
RAY_TASK_RETRIES = 1


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _ray_records(
    plan: list[list[RunConfig]],
    claim: _Claims,
    address: str | None,
    gpus: float,
    keep: Keep,
    refresh: Callable[[], object],
    refresh_every: float,
) -> Generator[Trained, None, None]:
    """One Ray task per ensemble; each ensemble's outputs when its task ends. A task that is lost
    (its worker or node died, :data:`RAY_TASK_RETRIES` times more) costs its ensemble, recorded as
    errors. A task with GPUs runs in a fresh Ray worker process each time (``max_calls=1``), so a
    broken CUDA context never trains a second ensemble."""
    try:
        import ray
    except ImportError:
        raise RuntimeError(
            "runner='ray' needs the optional ray package: pip install 'readtwice[dist]'"
        ) from None
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False)
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    remote = ray.remote(
        num_gpus=gpus if has_gpu else 0, max_retries=RAY_TASK_RETRIES, max_calls=1 if has_gpu else 0
    )(_run_ensemble)
    pending = {remote.remote(*payload): flight for flight, payload in _submissions(plan, claim, [], keep)}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=refresh_every)
            if not ready:  # long ensembles: keep this driver's claims alive for other hosts
                refresh()
                continue
            flight = pending.pop(ready[0])
            try:
                outputs = ray.get(ready[0])
            except ray.exceptions.RayError as err:  # the task's worker or node died (or it raised)
                lost = WorkerLost(
                    f"the Ray task of this ensemble was lost: {type(err).__name__}: {_first_line(err)}"
                )
                yield from flight.lost(lost)
                continue
            yield from outputs
    finally:
        for ref in pending:  # interrupted: stop the tasks whose runs will not be recorded
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
