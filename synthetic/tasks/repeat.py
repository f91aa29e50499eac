"""JR-p ("just read p times"): repeat the context of any task before its answer region.

For examples whose first ``C = context_len`` tokens are the context, JR-p gives::

    [context] x p  +  [answer / query region]       T_p = T + (p - 1) * C

Every copy is identical to the original context (including its ``START`` token), the answer
region is unchanged, and labels stay where they were relative to the end of the sequence (the
final region); nothing is labelled inside the copies. ``prefix_len`` becomes ``p * C``.

Repeating a JR-1 dataset gives the same underlying instances for every ``p`` (the data pipeline
seeds generation without ``p``), so accuracy differences across ``p`` come from the order alone.
"""

from __future__ import annotations

import numpy as np

from synthetic.tasks._checks import check_int
from synthetic.tasks.examples import TaskExamples
from synthetic.tasks.tokens import IGNORE_INDEX

__all__ = ["repeat_context"]


def repeat_context(examples: TaskExamples, passes: int) -> TaskExamples:
    """Return JR-``passes`` examples built from plain (``passes == 1``) ``examples``.

    ``passes=1`` returns ``examples`` itself. Inputs/labels go from ``[n_ex, T]`` to
    ``[n_ex, T + (passes - 1) * context_len]`` (int64); ``context_len`` is kept and ``passes`` set.
    """
    if not isinstance(examples, TaskExamples):
        raise TypeError(f"examples must be TaskExamples (got {type(examples).__name__})")
    p = check_int("passes", passes)
    if examples.passes != 1:
        raise ValueError(
            f"examples already have passes={examples.passes}; repeat_context expects plain (passes=1) "
            "examples so the copies stay identical"
        )
    if p == 1:
        return examples
    c = examples.context_len
    n, t = examples.inputs.shape
    out_t = t + (p - 1) * c
    inputs = np.empty((n, out_t), dtype=np.int64)
    labels = np.empty((n, out_t), dtype=np.int64)
    # every copy at once (no loop over copies): an [n_ex, p, C] view of the prefix <- the context
    prefix = inputs[:, : p * c]
    row, item = prefix.strides
    copies = np.lib.stride_tricks.as_strided(prefix, shape=(n, p, c), strides=(row, c * item, item))
    copies[...] = examples.inputs[:, None, :c]
    inputs[:, p * c :] = examples.inputs[:, c:]
    labels[:, : p * c] = IGNORE_INDEX
    labels[:, p * c :] = examples.labels[:, c:]
    return TaskExamples(inputs, labels, context_len=c, passes=p)
