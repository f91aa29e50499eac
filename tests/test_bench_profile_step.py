"""bench/profile_step.py's attribution of operators to the code that called them."""

from __future__ import annotations

from dataclasses import dataclass

from bench.profile_step import _caller, by_source


@dataclass
class _Event:
    name: str
    cpu_parent: _Event | None = None
    self_device_time_total: float = 0.0
    self_cpu_time_total: float = 0.0


def test_forward_operators_name_the_innermost_package_line() -> None:
    root = _Event("bench/profile_step.py(80): main")
    layer = _Event("/x/repo/synthetic/layers/base.py(197): causal_depthwise_conv", root)
    method = _Event("<built-in method conv1d>", layer)
    assert _caller(_Event("aten::conv1d", method)) == "synthetic/layers/base.py(197): causal_depthwise_conv"


def test_backward_operators_name_their_autograd_node() -> None:
    backward = _Event("torch/_tensor.py(566): backward")
    engine = _Event("autograd::engine::evaluate_function: MulBackward0", backward)
    assert _caller(_Event("aten::sum", engine)) == "MulBackward0"
    assert _caller(_Event("aten::mul", _Event("MulBackward0", engine))) == "MulBackward0"
    assert _caller(_Event("aten::mul", _Event("_MemberNormBackward", engine))) == "_MemberNormBackward"


def test_unattributed_operators_and_the_table() -> None:
    assert _caller(_Event("aten::mul", _Event("torch/nn/functional.py(1): gelu"))) == "?"
    line = _Event("synthetic/members.py(176): forward")
    events = [
        _Event("aten::add", line, self_device_time_total=3000.0),
        _Event("aten::add", line, self_device_time_total=1000.0),
        _Event("aten::mul", line, self_device_time_total=500.0),
        _Event("kernel_name", line, self_device_time_total=9000.0),  # kernels are not operators
        _Event("aten::view", line),  # no GPU time: left out
    ]
    table = by_source(events, steps=2, top=5).splitlines()
    assert table[1].split() == ["2.000", "ms", "1.0", "aten::add", "synthetic/members.py(176):", "forward"]
    assert table[2].split()[:4] == ["0.250", "ms", "0.5", "aten::mul"]
    assert len(table) == 3
