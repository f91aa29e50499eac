"""Trained weights kept by a sweep: one safetensors file per ``ok`` run beside ``runs.jsonl``, named
by its config hash and written before its record; :func:`synthetic.results.load_model` rebuilds
the model from the record's config, checks the file against it (naming what differs) and gives
back the test accuracy the record says."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from synthetic import weights
from synthetic.config import RunConfig
from synthetic.ensemble import evaluate_members, load_splits
from synthetic.members import stack_models
from synthetic.model import LanguageModel
from synthetic.record import RunRecord
from synthetic.results import ResultsStore, load_model, model_path, results_path
from synthetic.sweep import parse_experiment, run_sweep

from . import tiny_sweep

torch.set_num_threads(1)

#: the runs of tiny_sweep this file trains: d_model 8 (2 variants x 2 learning rates, 2 ensembles)
WIDTH_8: dict[str, Any] = dict(only=lambda c: c.model.d_model == 8)


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[RunRecord]]:
    """A sweep of tiny_sweep's d_model 8 runs with save_models=True: (its results folder, its records)."""
    tmp = tmp_path_factory.mktemp("kept")
    exp = tiny_sweep.experiment(tmp)
    summary = run_sweep(
        exp, "quick", results_dir=tmp, ensemble=2, save_models=True, progress=False, **WIDTH_8
    )
    assert (summary.ok, summary.ensembles) == (4, 2)
    return tmp, ResultsStore(results_path(tmp, tiny_sweep.NAME, "quick")).records()


def _test_accuracy(model: LanguageModel, cfg: RunConfig) -> Any:
    """The model alone on its run's test split, as the trainer evaluates."""
    _, test = load_splits(cfg.data)
    (evaluation,) = evaluate_members(
        stack_models([model]), [test], cfg.train.eval_batch_size, torch.device("cpu"), "fp32"
    )
    return evaluation


def test_a_saved_model_reloads_to_the_same_test_accuracy_as_its_record(
    kept: tuple[Path, list[RunRecord]],
) -> None:
    results, records = kept
    store_path = results_path(results, tiny_sweep.NAME, "quick")
    for record in records:
        h = record["config_hash"]
        assert record.get("model_file") == f"models/{h}.safetensors"
        assert model_path(store_path, h).is_file()
        model = load_model(record, results)
        assert not model.training and all(p.device.type == "cpu" for p in model.parameters())
        evaluation = _test_accuracy(model, RunConfig.model_validate(record["config"]))
        assert evaluation.slice_counts == record["slice_counts"]  # the same answers, example by example
        assert evaluation.accuracy == pytest.approx(record["accuracy"], abs=1e-12)
        for where in (store_path, store_path.parent):  # the runs.jsonl, or its folder, also say where
            again = load_model(record, where)
            assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))
    sizes = [model_path(store_path, r["config_hash"]).stat().st_size for r in records]
    assert max(sizes) < 100_000  # d_model 8: a few thousand parameters, fp32


def test_a_model_of_an_archived_store_is_found(kept: tuple[Path, list[RunRecord]], tmp_path: Path) -> None:
    """All records archived and the live runs.jsonl gone: the store's folder, its runs.jsonl path
    and its archive's path all still lead load_model to the weights beside them."""
    results, records = kept
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    store = ResultsStore(results_path(copy, tiny_sweep.NAME, "quick"))
    store.archive()
    store.path.unlink()
    for where in (copy, store.path.parent, store.path, store.archive_path):
        model = load_model(records[0], where)
        assert not model.training


def test_load_model_names_what_does_not_fit(kept: tuple[Path, list[RunRecord]], tmp_path: Path) -> None:
    results, records = kept
    first, second = records[0], records[1]
    with pytest.raises(ValueError, match="only an 'ok' run"):
        load_model({**first, "status": "error"}, results)
    without = {k: v for k, v in first.items() if k != "model_file"}
    with pytest.raises(ValueError, match=r"recorded without its trained weights .*--save-models"):
        load_model(without, results)
    with pytest.raises(FileNotFoundError, match="no saved model at"):
        load_model(first, tmp_path)  # another results folder, without the file
    # another run's file under this run's name
    copy = tmp_path / tiny_sweep.NAME / "quick"
    shutil.copytree(results / tiny_sweep.NAME / "quick", copy)
    shutil.copy(model_path(copy / "runs.jsonl", second["config_hash"]), copy / str(first["model_file"]))
    with pytest.raises(ValueError, match=f"holds the model of run '{second['config_hash']}', not of run"):
        load_model(first, tmp_path)
    # a file that is not safetensors at all
    (copy / str(first["model_file"])).write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="is not a readable safetensors file"):
        load_model(first, tmp_path)
    # a config whose model has other shapes: each differing tensor is named with both shapes
    path = model_path(results_path(results, tiny_sweep.NAME, "quick"), first["config_hash"])
    cfg = RunConfig.model_validate(first["config"])
    wider = cfg.model_copy(update={"model": cfg.model.model_copy(update={"d_model": 16})})
    with pytest.raises(
        ValueError,
        match=r"embedding.weight has shape \[16, 8\] in the file, the config's model needs \[16, 16\]",
    ):
        weights.read(path, wider, config_hash=first["config_hash"])
    deeper = cfg.model_copy(update={"model": cfg.model.model_copy(update={"n_layers": 3})})
    with pytest.raises(ValueError, match=r"missing from the file: blocks.2\."):
        weights.read(path, deeper, config_hash=first["config_hash"])


def test_weights_are_kept_only_when_asked(tmp_path: Path) -> None:
    """Off by default; ``save_models = true`` in a profile turns it on (without changing any run's
    hash: the runs are the same); ``save_models=False`` (``--no-save-models``) overrides it."""
    only: dict[str, Any] = dict(
        only=lambda c: c.variant == "conv only" and c.model.d_model == 4 and c.train.lr == 1e-2
    )
    plain = tiny_sweep.experiment(tmp_path)
    run_sweep(plain, "quick", results_dir=tmp_path / "off", progress=False, **only)
    (record,) = ResultsStore(results_path(tmp_path / "off", tiny_sweep.NAME, "quick")).records()
    assert (
        "model_file" not in record and not (tmp_path / "off" / tiny_sweep.NAME / "quick" / "models").exists()
    )

    import tomllib

    raw = tomllib.loads(tiny_sweep.TOML)
    raw["profiles"]["quick"]["save_models"] = True
    keeping = parse_experiment(raw)
    run_sweep(keeping, "quick", results_dir=tmp_path / "on", progress=False, **only)
    (kept_record,) = ResultsStore(results_path(tmp_path / "on", tiny_sweep.NAME, "quick")).records()
    assert kept_record["config_hash"] == record["config_hash"]
    assert (tmp_path / "on" / tiny_sweep.NAME / "quick" / str(kept_record["model_file"])).is_file()
    run_sweep(
        keeping, "quick", results_dir=tmp_path / "overridden", progress=False, save_models=False, **only
    )
    (not_kept,) = ResultsStore(results_path(tmp_path / "overridden", tiny_sweep.NAME, "quick")).records()
    assert "model_file" not in not_kept
    raw["profiles"]["quick"]["save_models"] = "yes"
    with pytest.raises(
        ValueError, match=r"save_models.literal\['checking'\]: Input should be 'checking' \(got 'yes'\)"
    ):
        parse_experiment(raw)
    with pytest.raises(TypeError, match="save_models='yes' must be True, False, 'checking' or None"):
        run_sweep(plain, "quick", results_dir=tmp_path, save_models="yes")
