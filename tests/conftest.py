"""Shared pytest configuration: hypothesis profiles and the `gpu` marker.

Profiles (choose with the HYPOTHESIS_PROFILE environment variable):
  ci        deterministic (derandomize=True), bounded examples, no deadline — `make test` uses it
  dev       the default: random, 50 examples, no deadline
  thorough  random, 1000 examples, no deadline — for a long local check of the bounds
"""

from __future__ import annotations

import os
import shutil

# Without a GPU the Triton kernels can only run in Triton's CPU interpreter, which must be chosen
# before triton is first imported. With an NVIDIA GPU the kernels run compiled.
if shutil.which("nvidia-smi") is None:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest
from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=30,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
    # no shrinking: a failure is reported as found, so a red CI run stays bounded in time
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
