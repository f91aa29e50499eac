"""Data pipeline: seeding, splits, JR-p, prefix_len, batching, cache."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.tasks.cache import cache_file
from synthetic.tasks.config import DataConfig
from synthetic.tasks.data import GENERATOR_VERSION, Batch, build_split, generate_segment, segment_seed
from synthetic.tasks.tokens import IGNORE_INDEX

SD_SEGS = [
    {"size_a": 2, "size_b": 5, "num_examples": 13},
    {"size_a": 5, "size_b": 2, "num_examples": 7},
    {"size_a": 3, "size_b": 3, "num_examples": 20},
]
MQAR_SEGS = [
    {"num_kv_pairs": 3, "seq_len": 16, "num_examples": 11},
    {"num_kv_pairs": 4, "num_queries": 2, "seq_len": 24, "num_examples": 9, "order": "queries-first"},
]


def _cfg(kind: str = "sd", **kw: Any) -> DataConfig:
    segs = MQAR_SEGS if kind == "mqar" else SD_SEGS
    base: dict[str, Any] = {
        "task": kind,
        "vocab_size": 40,
        "train_segments": segs,
        "test_segments": segs,
        "seed": 3,
    }
    return DataConfig(**{**base, **kw})


configs = st.builds(
    _cfg,
    kind=st.sampled_from(["sd", "sd_decision", "mqar"]),
    seed=st.integers(0, 2**40),
    passes=st.integers(1, 3),
)


@settings(max_examples=15)
@given(configs)
def test_same_config_same_arrays_and_splits_differ(cfg: DataConfig) -> None:
    one, two = build_split(cfg, "train"), build_split(cfg, "train")
    test = build_split(cfg, "test")
    for s1, s2, st_ in zip(one.segments, two.segments, test.segments, strict=True):
        np.testing.assert_array_equal(s1.inputs, s2.inputs)
        np.testing.assert_array_equal(s1.labels, s2.labels)
        assert s1.name == st_.name and s1.inputs.shape == st_.inputs.shape
        assert not np.array_equal(s1.inputs, st_.inputs)  # train and test never share a stream


@settings(max_examples=15)
@given(configs, st.randoms(use_true_random=False))
def test_reordering_segments_changes_no_segment(cfg: DataConfig, rnd: Any) -> None:
    segs = list(cfg.train_segments)
    shuffled = segs[1:] + segs[:1]
    rnd.shuffle(shuffled)
    other = cfg.model_copy(update={"train_segments": tuple(shuffled[:-1]) or tuple(segs)})
    a = {s.name: s for s in build_split(cfg, "train").segments}
    for seg in build_split(other, "train").segments:
        np.testing.assert_array_equal(seg.inputs, a[seg.name].inputs)


@settings(max_examples=10)
@given(configs)
def test_jrp_repeats_the_same_instances_and_prefix_len(cfg: DataConfig) -> None:
    plain = build_split(cfg.model_copy(update={"passes": 1}), "train")
    rep = build_split(cfg, "train")
    p = cfg.passes
    assert max(s.seq_len for s in rep.segments) == cfg.max_seq_len("train")
    for s1, sp in zip(plain.segments, rep.segments, strict=True):
        assert sp.seq_len == cfg.seq_len(sp.config) and sp.prefix_len[0] == cfg.prefix_len(sp.config)
        c = s1.context_len
        assert sp.context_len == c and sp.passes == p
        assert np.all(sp.prefix_len == p * c) and sp.prefix_len.shape == (sp.num_examples,)
        assert sp.seq_len == s1.seq_len + (p - 1) * c
        for k in range(p):
            np.testing.assert_array_equal(sp.inputs[:, k * c : (k + 1) * c], s1.inputs[:, :c])
        np.testing.assert_array_equal(sp.labels[:, p * c :], s1.labels[:, c:])
        assert np.all(sp.labels[:, : p * c] == IGNORE_INDEX)


def test_seed_ignores_name_and_passes_but_not_sizes() -> None:
    cfg = _cfg()
    seg = cfg.train_segments[0]
    base = segment_seed(cfg, "train", seg).generate_state(4).tolist()
    renamed = seg.model_copy(update={"name": "other"})
    assert (
        segment_seed(cfg.model_copy(update={"passes": 4}), "train", renamed).generate_state(4).tolist()
        == base
    )
    assert segment_seed(cfg, "test", seg).generate_state(4).tolist() != base
    bigger = seg.model_copy(update={"num_examples": seg.num_examples + 1})
    assert segment_seed(cfg, "train", bigger).generate_state(4).tolist() != base
    assert segment_seed(cfg.model_copy(update={"seed": 4}), "train", seg).generate_state(4).tolist() != base


def _digest(arrays: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for arr in arrays:
        h.update(np.ascontiguousarray(arr, dtype="<i8").tobytes())
    return h.hexdigest()[:16]


GOLDEN = {
    ("mqar", 40): "15ac93cd7ac90ff7",
    ("sd", 40): "3d1e9dbfaaea49bc",  # sets drawn by whole-row rejection (k * k small against the vocabulary)
    ("sd", 14): "7e4f6cdc99b30cd3",  # sets drawn by the vectorised Fisher-Yates path
    ("sd_decision", 40): "808c4482ae4007ec",
}


@pytest.mark.parametrize(("kind", "vocab_size"), sorted(GOLDEN))
def test_golden_data(kind: str, vocab_size: int) -> None:
    """Fixed config -> fixed bytes: the seeds must not depend on Python's hash(), dict order or the
    process. If this fails after an intended generator change, bump GENERATOR_VERSION and update."""
    data = build_split(_cfg(kind, passes=2, vocab_size=vocab_size), "train")
    got = _digest([a for s in data.segments for a in (s.inputs, s.labels)])
    assert got == GOLDEN[(kind, vocab_size)]


@pytest.mark.parametrize("kind", ["sd", "mqar"])
@pytest.mark.parametrize("batch_size", [1, 4, 7, 64])
def test_batches_cover_every_example_once(kind: str, batch_size: int) -> None:
    data = build_split(_cfg(kind, passes=2), "train")
    for shuffle in (False, True):
        seen: dict[str, list[np.ndarray]] = {s.name: [] for s in data.segments}
        count = 0
        for batch in data.batches(batch_size, shuffle=shuffle, epoch=1):
            count += 1
            assert isinstance(batch, Batch)
            seg = data.segment(batch.slice)
            assert batch.inputs.dtype == batch.labels.dtype == batch.prefix_len.dtype == torch.int64
            assert batch.inputs.shape == batch.labels.shape == (batch.inputs.shape[0], seg.seq_len)
            assert 1 <= batch.inputs.shape[0] <= batch_size
            assert torch.all(batch.prefix_len == seg.prefix_len[0])
            seen[batch.slice].append(batch.inputs.numpy())
        assert count == data.num_batches(batch_size)
        for seg in data.segments:
            got = np.concatenate(seen[seg.name])
            assert got.shape == seg.inputs.shape  # nothing dropped, nothing padded, no repeats
            key = lambda arr: sorted(map(tuple, arr.tolist()))  # noqa: E731
            assert key(got) == key(seg.inputs)
            if not shuffle:
                np.testing.assert_array_equal(got, seg.inputs)


def test_shuffle_reproducible_per_epoch_and_differs_across_epochs() -> None:
    data = build_split(_cfg("sd"), "train")

    def order(epoch: int) -> list[tuple[str, tuple[int, ...]]]:
        return [
            (b.slice, tuple(b.labels[:, -1].tolist())) for b in data.batches(4, shuffle=True, epoch=epoch)
        ]

    assert order(0) == order(0)
    assert order(0) != order(1)
    slices = [s for s, _ in order(0)]
    assert slices != sorted(slices, key=data.slice_names.index)  # segments interleaved
    # labels and inputs stay paired after shuffling
    for b in data.batches(5, shuffle=True, epoch=2):
        seg = data.segment(b.slice)
        rows = {tuple(r): tuple(lab) for r, lab in zip(seg.inputs.tolist(), seg.labels.tolist(), strict=True)}
        for r, lab in zip(b.inputs.tolist(), b.labels.tolist(), strict=True):
            assert rows[tuple(r)] == tuple(lab)


@pytest.mark.parametrize("kind", ["sd", "mqar"])
def test_batch_shapes_do_not_depend_on_the_seed(kind: str) -> None:
    """Two seeds: different examples, but the same sequence of (slice, batch shape) in every
    epoch, so that runs differing only in seed can be stacked into one ensemble."""
    cfg = _cfg(kind)
    a = build_split(cfg, "train")
    b = build_split(cfg.model_copy(update={"seed": cfg.seed + 1}), "train")
    for epoch in (0, 3):
        shapes_a = [(x.slice, tuple(x.inputs.shape)) for x in a.batches(5, shuffle=True, epoch=epoch)]
        shapes_b = [(x.slice, tuple(x.inputs.shape)) for x in b.batches(5, shuffle=True, epoch=epoch)]
        assert shapes_a == shapes_b
    first_a = next(a.batches(5, shuffle=True, epoch=0)).inputs
    first_b = next(b.batches(5, shuffle=True, epoch=0)).inputs
    assert not torch.equal(first_a, first_b)


def test_segments_read_only_and_batches_independent() -> None:
    data = build_split(_cfg("sd"), "test")
    seg = data.segments[0]
    with pytest.raises(ValueError, match="read-only"):
        seg.inputs[0, 0] = 5
    batch = next(data.batches(4, shuffle=False))
    batch.inputs[0, 0] = 99
    assert seg.inputs[0, 0] != 99


def test_batches_argument_errors() -> None:
    data = build_split(_cfg("sd"), "test")
    with pytest.raises(ValueError, match=r"batch_size=0 must be >= 1"):
        data.num_batches(0)
    with pytest.raises(ValueError, match=r"epoch=-1 must be >= 0"):
        next(data.batches(4, shuffle=True, epoch=-1))
    with pytest.raises(TypeError, match=r"shuffle=1 must be a bool"):
        next(data.batches(4, shuffle=1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"split='dev' is not 'train' or 'test'"):
        build_split(_cfg("sd"), "dev")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match=r"no segment 'A=9,B=9'"):
        data.segment("A=9,B=9")


def test_batch_to_device() -> None:
    batch = next(build_split(_cfg("mqar"), "test").batches(3, shuffle=False))
    moved = batch.to("cpu")
    assert moved.slice == batch.slice and torch.equal(moved.inputs, batch.inputs)


@pytest.mark.parametrize("kind", ["sd", "mqar"])
def test_cache_roundtrip_and_keys(tmp_path: Path, kind: str) -> None:
    cfg = _cfg(kind, cache_dir=tmp_path, passes=2)
    fresh = build_split(_cfg(kind, passes=2), "train")
    first = build_split(cfg, "train")
    files = sorted(tmp_path.glob("*.npz"))
    assert len(files) == len(cfg.train_segments)
    assert not list(tmp_path.glob("*.tmp"))
    with np.load(files[0], allow_pickle=False) as npz:  # plain arrays only: loads without pickle
        assert set(npz.files) == {"inputs", "labels", "context_len", "meta"}
        assert GENERATOR_VERSION in str(npz["meta"][()])
        assert npz["inputs"].dtype == np.int16
    mtimes = [f.stat().st_mtime_ns for f in files]
    second = build_split(cfg, "train")  # from the cache
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    for a, b, c in zip(fresh.segments, first.segments, second.segments, strict=True):
        np.testing.assert_array_equal(a.inputs, b.inputs)
        np.testing.assert_array_equal(a.inputs, c.inputs)
        np.testing.assert_array_equal(a.labels, c.labels)
        assert c.inputs.dtype == np.int64 and np.array_equal(a.prefix_len, c.prefix_len)
    # passes is not part of the key: JR-3 reuses the same files
    build_split(cfg.model_copy(update={"passes": 3}), "train")
    assert len(list(tmp_path.glob("*.npz"))) == len(files)
    # seed is part of the key
    build_split(cfg.model_copy(update={"seed": 99}), "train")
    assert len(list(tmp_path.glob("*.npz"))) == 2 * len(files)


def test_cache_corrupt_or_foreign_file_is_regenerated(tmp_path: Path) -> None:
    cfg = _cfg("sd", cache_dir=tmp_path)
    seg = cfg.train_segments[0]
    expected = generate_segment(_cfg("sd"), "train", seg)
    key = {"generator": GENERATOR_VERSION, "seed": cfg.seed, "split": "train", **cfg.segment_identity(seg)}
    path = cache_file(tmp_path, key)
    path.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable"):
        got = generate_segment(cfg, "train", seg)
    np.testing.assert_array_equal(got.inputs, expected.inputs)
    # a file holding another key under this name
    other = cfg.train_segments[1]
    other_key = {
        "generator": GENERATOR_VERSION,
        "seed": cfg.seed,
        "split": "train",
        **cfg.segment_identity(other),
    }
    generate_segment(cfg, "train", other)
    cache_file(tmp_path, other_key).replace(path)
    with pytest.warns(UserWarning, match="another config"):
        got = generate_segment(cfg, "train", seg)
    np.testing.assert_array_equal(got.inputs, expected.inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generate_segment(cfg, "train", seg)  # now a clean hit


def test_split_data_repr_and_counts() -> None:
    data = build_split(_cfg("sd"), "train")
    assert data.num_examples == 40 and data.vocab_size == 40 and data.split == "train"
    assert data.num_batches(8) == 2 + 1 + 3
    assert "A=2,B=5: 13x10" in repr(data)
