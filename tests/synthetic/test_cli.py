"""The command line: list, run (resumable), show, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from synthetic.__main__ import main

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
    assert "4 runs in the grid, 0 already recorded, 4 ok and 0 failed now" in capsys.readouterr().out
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
    assert "4 already recorded, 0 ok" in capsys.readouterr().out
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
