"""A tiny experiment for the tests of sweeps that survive faults and keep trained weights: 8 runs
(2 variants x 2 widths x 2 learning rates; the two learning rates of a shape share an ensemble
with ``ensemble=2``, so 4 ensembles) that train in about a second on a CPU."""

from __future__ import annotations

import textwrap
from pathlib import Path

from synthetic.sweep import Experiment, load_experiment

NAME = "faults"
TOML = textwrap.dedent(
    f"""
    name = "{NAME}"
    [[variants]]
    name = "causal"
    pattern = ["base_conv", {{kind = "based", num_heads = 2, causal = true}}]
    [[variants]]
    name = "conv only"
    pattern = ["base_conv"]
    [profiles.quick]
    data = {{task = "sd", vocab_size = 16, train_segments = "tiny_sd_train", test_segments = "tiny_sd_test"}}
    model = {{n_layers = 2}}
    train = {{epochs = 1, batch_size = 32, device = "cpu"}}
    grid = {{d_model = [4, 8], lr = [3e-3, 1e-2], seed = [0]}}
    """
)


def write(folder: Path, text: str = TOML) -> Path:
    """The experiment file in ``folder``."""
    path = folder / f"{NAME}.toml"
    path.write_text(text)
    return path


def experiment(folder: Path) -> Experiment:
    """The experiment, loaded from a file written in ``folder``."""
    return load_experiment(write(folder))
