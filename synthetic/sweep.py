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

:func:`run_sweep` skips runs whose config hash is already in the results store, records failed
runs (exception, NaN loss) with the reason and goes on, and runs on N local worker processes
(or on Ray with ``runner="ray"``). Interrupting it loses at most the runs in flight.

Local workers are started with ``spawn`` (safe with torch threads and CUDA): a script that calls
:func:`run_sweep` with ``workers > 1`` needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import multiprocessing as mp
import os
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tqdm.auto import tqdm

from synthetic.config import RunConfig, TrainConfig
from synthetic.layers import MIXER_CONFIGS, MixerConfig, parse_mixer
from synthetic.model import ModelConfig
from synthetic.results import ResultsStore, results_path

EXPERIMENTS_PACKAGE = "synthetic.experiments"
SPECIAL_AXES = ("seed",)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Variant(_Strict):
    """A model family of an experiment: its mixer pattern and the JR-p of its data."""

    name: str = Field(min_length=1)
    pattern: tuple[MixerConfig, ...] = Field(min_length=1)
    passes: int = Field(1, ge=1)
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


def expand(exp: Experiment, profile: str) -> list[RunConfig]:
    """All runs of ``profile``: variants x grid, as frozen RunConfigs in a deterministic order.

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
    kinds = {key: _axis_kind(key, exp) for key in prof.grid}
    runs: list[RunConfig] = []
    seen: dict[str, int] = {}
    for variant in variants:
        # axes this variant multiplies along (mixer axes only if one of its mixers has the field)
        axes = [
            k
            for k in prof.grid
            if kinds[k] != "mixer" or any(k in MIXER_CONFIGS[m.kind].model_fields for m in variant.pattern)
        ]
        for values in itertools.product(*(prof.grid[k] for k in axes)):
            setting = dict(zip(axes, values, strict=True))
            model_fields = {**prof.model, **{k: v for k, v in setting.items() if kinds[k] == "model"}}
            train_fields = {**prof.train, **{k: v for k, v in setting.items() if kinds[k] == "train"}}
            mixer_fields = {k: v for k, v in setting.items() if kinds[k] == "mixer"}
            pattern = [
                m.model_copy(
                    update={k: v for k, v in mixer_fields.items() if k in MIXER_CONFIGS[m.kind].model_fields}
                )
                for m in variant.pattern
            ]
            pattern = [parse_mixer(m.model_dump()) for m in pattern]  # re-validate updated fields
            seed = setting.get("seed", prof.data.get("seed", 0))
            data = {**prof.data, "passes": variant.passes, "seed": seed}
            cfg = RunConfig(
                experiment=exp.name,
                profile=profile,
                variant=variant.name,
                seed=seed,
                data=data,
                model={**model_fields, "pattern": pattern},
                train=train_fields,
            )
            h = cfg.config_hash()
            if h in seen:
                raise ValueError(
                    f"two grid points give the same run (hash {h}): check the grid for duplicates"
                )
            seen[h] = len(runs)
            runs.append(cfg)
    return runs


# ----------------------------------------------------------------------------------------- runners


@dataclass
class SweepSummary:
    """What a sweep did: runs in the grid, skipped as already recorded, run now (ok / failed)."""

    path: Path
    total: int
    skipped: int
    ok: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.path}: {self.total} runs in the grid, {self.skipped} already recorded, "
            f"{self.ok} ok and {self.failed} failed now"
        )


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


def _run_one(cfg_json: str, device: str | None) -> dict[str, Any]:
    """Worker entry point (module-level so that spawn can pickle it)."""
    from synthetic.train import run_record

    return run_record(RunConfig.model_validate_json(cfg_json), device=device)


def _gpu_devices() -> list[str]:
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def _device_for(cfg: RunConfig, i: int, gpus: list[str]) -> str | None:
    if cfg.train.device in ("auto", "cuda") and gpus:
        return gpus[i % len(gpus)]
    return None


def run_sweep(
    exp: Experiment | str | Path,
    profile: str,
    *,
    results_dir: str | Path = "results",
    workers: int = 1,
    runner: Literal["local", "ray"] = "local",
    retry_failed: bool = False,
    progress: bool = True,
    only: Callable[[RunConfig], bool] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    ray_address: str | None = None,
    gpus_per_run: float = 1.0,
) -> SweepSummary:
    """Run every not-yet-recorded run of ``profile`` and append each record as it finishes.

    workers       local worker processes (1: run in this process). With CUDA, runs are spread
                  over the visible GPUs round-robin (several workers may share one GPU).
    runner        "local" or "ray" (needs the optional ``ray`` package; ``ray_address`` to join
                  a cluster, ``gpus_per_run`` per task)
    retry_failed  rerun runs whose last record failed (default: a recorded failure counts as done)
    only          optional filter on the RunConfigs
    on_record     called with each record after it is stored
    """
    if not isinstance(exp, Experiment):
        exp = load_experiment(exp)
    if workers < 1:
        raise ValueError(f"workers={workers} must be >= 1")
    if runner not in ("local", "ray"):
        raise ValueError(f"runner={runner!r}; allowed: local, ray")
    store = ResultsStore(results_path(results_dir, exp.name, profile))
    configs = [c for c in expand(exp, profile) if only is None or only(c)]
    done = store.done_hashes(include_failed=not retry_failed)
    todo = [c for c in configs if c.config_hash() not in done]
    summary = SweepSummary(store.path, total=len(configs), skipped=len(configs) - len(todo))
    if not todo:
        return summary

    def record_done(record: dict[str, Any], bar: Any) -> None:
        store.append(record)
        if record["status"] == "ok":
            summary.ok += 1
        else:
            summary.failed += 1
            summary.failures.append(
                f"{record['summary']['variant']} {record['config_hash']}: {record['error']}"
            )
        bar.update(1)
        bar.set_postfix(ok=summary.ok, failed=summary.failed, refresh=False)
        if on_record is not None:
            on_record(record)

    bar = tqdm(total=len(todo), desc=f"{exp.name}/{profile}", disable=not progress, unit="run")
    try:
        if runner == "ray":
            _run_ray(todo, record_done, bar, ray_address, gpus_per_run)
        elif workers == 1:
            from synthetic.train import run_record

            gpus = _gpu_devices()
            for i, cfg in enumerate(todo):
                record_done(run_record(cfg, device=_device_for(cfg, i, gpus), progress=progress), bar)
        else:
            _run_pool(todo, workers, record_done, bar)
    finally:
        bar.close()
    return summary


def _run_pool(todo: list[RunConfig], workers: int, record_done: Callable[..., None], bar: Any) -> None:
    gpus = _gpu_devices()
    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_worker_init, initargs=(threads,)
    ) as pool:
        futures = {
            pool.submit(_run_one, cfg.model_dump_json(), _device_for(cfg, i, gpus)): cfg
            for i, cfg in enumerate(todo)
        }
        try:
            for fut in cf.as_completed(futures):
                record_done(fut.result(), bar)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _run_ray(
    todo: Iterable[RunConfig], record_done: Callable[..., None], bar: Any, address: str | None, gpus: float
) -> None:
    try:
        import ray
    except ImportError:
        raise RuntimeError(
            "runner='ray' needs the optional ray package: pip install 'readtwice[dist]'"
        ) from None
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True)
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    remote = ray.remote(num_gpus=gpus if has_gpu else 0)(_run_one)
    pending = [remote.remote(cfg.model_dump_json(), None) for cfg in todo]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        record_done(ray.get(ready[0]), bar)
