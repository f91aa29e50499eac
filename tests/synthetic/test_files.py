"""synthetic.files.write_whole: the file holds the old or the new content, never a mix, and no
temporary file is left behind, also when the write fails half-way."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.files import write_whole


@settings(max_examples=20)
@given(first=st.binary(max_size=300), second=st.binary(max_size=300))
def test_write_whole_replaces_the_content(
    tmp_path_factory: pytest.TempPathFactory, first: bytes, second: bytes
) -> None:
    path = tmp_path_factory.mktemp("w") / "deep" / "file.bin"
    write_whole(path, first)
    write_whole(path, second)
    assert path.read_bytes() == second
    assert [p.name for p in path.parent.iterdir()] == ["file.bin"]


def test_a_failed_write_keeps_the_old_content_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file.bin"
    write_whole(path, b"old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("synthetic.files.os.fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_whole(path, b"new content")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]
