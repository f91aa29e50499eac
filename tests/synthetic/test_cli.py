"""The command line: list, run (resumable), show, clear errors, help texts, exit codes (failed runs,
bad input, a closed pipe)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from synthetic.__main__ import build_parser, main
from synthetic.results import ResultsStore, results_path

torch.set_num_threads(1)

TINY = textwrap.dedent(
    """
    name = "tiny_cli"
    [[variants]]
    name = "causal"
    pattern = ["base_conv", {kind = "based", num_heads = 1, causal = true}]
    [[variants]]
    name = "non-causal"
    pattern = ["base_conv", {kind = "based", num_heads = 1, causal = false}]
    [profiles.quick]
    data = {task = "sd", vocab_size = 16, train_segments = "tiny_sd_train", test_segments = "tiny_sd_test"}
    model = {n_layers = 2}
    train = {epochs = 1, batch_size = 64, device = "cpu"}
    grid = {d_model = [4], feature_dim = [1, 2]}
    """
)


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "sd_order" in out and "mqar_order" in out and "profile paper" in out and "JRT-RNN" in out


def test_run_then_show_then_rerun(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = tmp_path / "tiny.toml"
    exp.write_text(TINY)
    res = tmp_path / "res"
    assert main(["run", str(exp), "--results", str(res), "--quiet"]) == 0
    assert "4 runs in the grid, 0 already recorded; now 4 ok, 0 failed" in capsys.readouterr().out
    lines = (res / "tiny_cli" / "quick" / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 4
    rec = json.loads(lines[0])
    for key in (
        "config",
        "config_hash",
        "accuracy",
        "slice_accuracy",
        "train_loss",
        "steps",
        "wall_time_s",
        "tokens_per_s",
        "num_parameters",
        "state_values",
        "state_bytes",
        "paper_state_values",
        "paper_state_bytes",
        "device",
        "package_version",
        "status",
    ):
        assert key in rec, key
    assert main(["run", str(exp), "--results", str(res), "--quiet"]) == 0
    assert "4 already recorded; now 0 ok" in capsys.readouterr().out
    assert main(["show", "tiny_cli/quick", "--results", str(res)]) == 0
    out = capsys.readouterr().out
    assert "non-causal" in out and "best_accuracy" in out and "4 runs, 4 ok, 0 failed" in out


def test_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no_such_experiment"]) == 2
    assert "unknown experiment 'no_such_experiment'" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace("epochs = 1", "epochz = 1"))
    assert main(["run", str(bad), "--results", str(tmp_path)]) == 2
    assert "unknown key 'epochz'" in capsys.readouterr().err
    assert main(["show", str(tmp_path / "nothing")]) == 2
    with pytest.raises(SystemExit):
        main(["run"])


def test_module_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "synthetic", "list"], capture_output=True, text=True, check=True
    )
    assert "sd_order" in out.stdout


# ------------------------------------------------------------------ help texts, exit codes, pipes


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_subcommand_and_option_has_a_help_text_without_rst() -> None:
    parser = build_parser()
    top = parser.format_help()
    assert "`" not in top and "Run the synthetic experiments" in top
    subs = _subparsers(parser)
    assert set(subs) == {"run", "list", "show", "archive"}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            assert all(h and len(h.splitlines()) == 1 for h in helps.values()), helps
    for name, sub in subs.items():
        assert sub.description, name
        text = sub.format_help()
        assert "`" not in text, name
        for action in sub._actions:
            assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest}"
    run_opts = {o for a in subs["run"]._actions for o in a.option_strings}
    assert {"--ray-address", "--gpus-per-run", "--skip-bad-lines", "--runner", "--ensemble"} <= run_opts
    assert "--skip-bad-lines" in {o for a in subs["show"]._actions for o in a.option_strings}


@dataclass
class FakeSummary:
    ok: int = 1
    failed: int = 0
    errored: int = 0
    failures: list[str] = field(default_factory=list)


def _fake_sweep(monkeypatch: pytest.MonkeyPatch, summary: Any) -> dict[str, Any]:
    import synthetic.sweep as sweep

    seen: dict[str, Any] = {}

    def fake_run_sweep(exp: Any, profile: str, **kwargs: Any) -> Any:
        seen.update(kwargs, profile=profile)
        return summary

    monkeypatch.setattr(sweep, "run_sweep", fake_run_sweep)
    return seen


def test_run_passes_ray_options_and_skip_bad_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = tmp_path / "tiny.toml"
    exp.write_text(TINY)
    seen = _fake_sweep(monkeypatch, FakeSummary())
    argv = ["run", str(exp), "--runner", "ray", "--ray-address", "auto", "--gpus-per-run", "0.25"]
    assert main(argv) == 0
    assert (seen["runner"], seen["ray_address"], seen["gpus_per_run"]) == ("ray", "auto", 0.25)
    assert seen["skip_bad_lines"] is False and "ensemble" not in seen  # run_sweep's default
    assert seen["save_models"] is None  # the profile decides
    assert main(["run", str(exp), "--skip-bad-lines", "--ensemble", "3", "--quiet", "--save-models"]) == 0
    assert seen["skip_bad_lines"] is True and seen["runner"] == "local" and seen["ensemble"] == 3
    assert seen["save_models"] is True
    assert main(["run", str(exp), "--no-save-models"]) == 0 and seen["save_models"] is False
    for bad in ("0", "-1", "nan", "inf", "x"):
        with pytest.raises(SystemExit) as exc:
            main(["run", str(exp), "--runner", "ray", "--gpus-per-run", bad])
        assert exc.value.code == 2
        assert "--gpus-per-run" in capsys.readouterr().err
    assert main(["run", str(exp), "--ray-address", "auto"]) == 2
    assert "--ray-address only apply with --runner ray" in capsys.readouterr().err
    for option in ("--workers", "--ensemble"):
        with pytest.raises(SystemExit):
            main(["run", str(exp), option, "0"])


def test_run_exit_code_counts_failed_and_errored_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = tmp_path / "tiny.toml"
    exp.write_text(TINY)
    _fake_sweep(monkeypatch, FakeSummary(ok=0, failed=2, errored=1, failures=["a", "b"]))
    assert main(["run", str(exp)]) == 1
    err = capsys.readouterr().err
    assert "2 runs failed" in err and "1 errored (environment; will be retried on the next invocation)" in err
    _fake_sweep(monkeypatch, FakeSummary(ok=0, failed=0, errored=1))
    assert main(["run", str(exp)]) == 1
    assert "1 run errored" in capsys.readouterr().err

    @dataclass
    class OldSummary:  # a SweepSummary without the errored field
        ok: int = 0
        failed: int = 0
        failures: list[str] = field(default_factory=list)

    _fake_sweep(monkeypatch, OldSummary())
    assert main(["run", str(exp)]) == 0


DIVERGING = textwrap.dedent(
    """
    name = "tiny_diverge"
    [[variants]]
    name = "causal"
    pattern = ["base_conv", {kind = "based", num_heads = 1, causal = true}]
    [profiles.quick]
    data = {task = "sd", vocab_size = 16, train_segments = "tiny_sd_train", test_segments = "tiny_sd_test"}
    model = {n_layers = 2}
    # no clipping, no warmup (the reference optimiser) and an absurd learning rate: the loss blows up
    train = {epochs = 1, batch_size = 64, device = "cpu", lr = 1e5, optimizer = "reference"}
    grid = {d_model = [4]}
    """
)


def test_run_of_a_diverging_experiment_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = tmp_path / "diverge.toml"
    exp.write_text(DIVERGING)
    assert main(["run", str(exp), "--results", str(tmp_path / "res"), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "NonFiniteLossError" in captured.out
    assert "1 run failed" in captured.err
    records = ResultsStore(results_path(tmp_path / "res", "tiny_diverge", "quick")).records()
    assert [r["status"] for r in records] == ["failed"]  # the failure is kept as a result


def _write_records(path: Path, n: int, *extra_lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {
                "schema": 1,
                "config_hash": f"{i:016x}",
                "config": {},
                "status": "ok",
                "error": None,
                "accuracy": 0.5,
                "summary": {"variant": "v", "d_model": i, "feature_dim": 2, "lr": 1e-3, "seed": 0},
            }
        )
        for i in range(n)
    ]
    path.write_text("\n".join([*lines[:1], *extra_lines, *lines[1:]]) + "\n")


def test_show_bad_line_is_named_and_can_be_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "runs.jsonl"
    _write_records(path, 3, '{"foo": 1}')
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: not a run record: missing field(s)" in err and "--skip-bad-lines" in err
    assert "Traceback" not in err and "KeyError" not in err
    assert main(["show", str(path), "--skip-bad-lines"]) == 0
    captured = capsys.readouterr()
    assert "3 runs, 3 ok, 0 failed" in captured.out
    assert f"warning: skipping bad line {path}:2: not a run record" in captured.err
    assert "skipped 1 bad line" in captured.err


def test_show_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    _write_records(path, 3000)  # --all prints far more than a pipe buffer holds
    proc = subprocess.Popen(
        [sys.executable, "-m", "synthetic", "show", str(path), "--all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()  # a reader that takes one line and goes away, like `head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err


def test_run_help_names_the_sweeps_ensemble_defaults() -> None:
    import argparse

    from synthetic.__main__ import build_parser
    from synthetic.sweep import CPU_ENSEMBLE, GPU_ENSEMBLE

    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    text = actions[0].choices["run"].format_help()
    assert f"{CPU_ENSEMBLE} on a CPU" in text and f"{GPU_ENSEMBLE} on a GPU" in " ".join(text.split())
