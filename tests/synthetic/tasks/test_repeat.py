"""JR-p: identical copies of the context, labels only in the final region, prefix_len."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthetic.tasks.examples import TaskExamples
from synthetic.tasks.mqar import ORDERS, generate_mqar, mqar_min_seq_len
from synthetic.tasks.repeat import repeat_context
from synthetic.tasks.sd import generate_sd, generate_sd_decision
from synthetic.tasks.tokens import IGNORE_INDEX


@st.composite
def plain_examples(draw: st.DrawFn) -> TaskExamples:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 12))
    kind = draw(st.sampled_from(["sd", "sd_decision", "mqar"]))
    if kind == "mqar":
        kv = draw(st.integers(1, 6))
        m = draw(st.integers(1, kv))
        order = draw(st.sampled_from(ORDERS))
        t = mqar_min_seq_len(kv, m, order) + draw(st.integers(0, 10))
        return generate_mqar(rng, n, kv, t, 64, num_queries=m, order=order)
    a, b = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    gen = generate_sd if kind == "sd" else generate_sd_decision
    return gen(rng, n, a, b, 40)


@given(plain_examples(), st.integers(1, 4))
def test_copies_identical_labels_final_only(ex: TaskExamples, passes: int) -> None:
    rep = repeat_context(ex, passes)
    c, t = ex.context_len, ex.seq_len
    assert rep.passes == passes and rep.context_len == c
    assert rep.prefix_len == passes * c
    assert rep.seq_len == t + (passes - 1) * c
    for p in range(passes):
        np.testing.assert_array_equal(rep.inputs[:, p * c : (p + 1) * c], ex.inputs[:, :c])
    # the answer region is unchanged, labels sit only there and equal the originals
    np.testing.assert_array_equal(rep.inputs[:, passes * c :], ex.inputs[:, c:])
    np.testing.assert_array_equal(rep.labels[:, passes * c :], ex.labels[:, c:])
    assert np.all(rep.labels[:, : passes * c] == IGNORE_INDEX)
    assert (rep.labels != IGNORE_INDEX).sum() == (ex.labels != IGNORE_INDEX).sum()


def test_passes_one_is_identity_and_errors() -> None:
    ex = generate_sd(np.random.default_rng(0), 3, 2, 3, 20)
    assert repeat_context(ex, 1) is ex
    with pytest.raises(ValueError, match=r"passes=0 must be >= 1"):
        repeat_context(ex, 0)
    with pytest.raises(ValueError, match=r"already have passes=2"):
        repeat_context(repeat_context(ex, 2), 2)
    with pytest.raises(TypeError, match=r"examples must be TaskExamples"):
        repeat_context(ex.inputs, 2)  # type: ignore[arg-type]


def test_task_examples_rejects_labels_in_context() -> None:
    ex = generate_sd(np.random.default_rng(0), 3, 2, 3, 20)
    labels = ex.labels.copy()
    labels[0, 1] = 7
    with pytest.raises(ValueError, match=r"labels inside the context"):
        TaskExamples(ex.inputs, labels, ex.context_len)
    with pytest.raises(ValueError, match=r"prefix_len=8 .* must be in \[0, T=8\)"):
        TaskExamples(ex.inputs, ex.labels, 8)
    with pytest.raises(TypeError, match=r"inputs must be an int64 numpy array"):
        TaskExamples(ex.inputs.astype(np.int32), ex.labels, 2)
