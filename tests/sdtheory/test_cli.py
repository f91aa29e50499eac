"""`python -m sdtheory`: tables, rows, profiles, witnesses; bad arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sdtheory.__main__ import main


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "--n", "1024", "--k", "64", "--l", "8", "--p", "1", "2", "4"]) == 0
    out = capsys.readouterr().out
    assert "one-pass exact" in out and "JRT two-pass (Alg. 3)" in out and "B-first" in out
    assert main(["table", "--n", "16", "--k", "3", "--l", "2", "--long", "--csv"]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert csv[0].startswith("n,k,l,order") and len(csv) > 10


def test_rows_and_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rows", "--n", "10", "--k", "2", "--l", "5"]) == 0
    out = capsys.readouterr().out
    assert (
        "A-first: states after the first set 45 " in out and "B-first: states after the first set 252 " in out
    )
    assert main(["profile", "--n", "5", "--k", "2", "--l", "2", "--order", "B-first"]) == 0
    out = capsys.readouterr().out
    assert "separator" in out and "closed form" in out


def test_witness(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["witness", "--alg", "bloom", "--param", "filter_bits=4", "--n", "6", "--k", "3", "--l", "2"]
    assert main(args) == 0
    assert "collision witness" in capsys.readouterr().out
    assert main(["witness", "--alg", "jrt-two-pass", "--n", "5", "--k", "2", "--l", "2", "--p", "2"]) == 0
    assert "no failure" in capsys.readouterr().out
    assert main(["measure", "--alg", "store-first", "--n", "6", "--k", "3", "--l", "2"]) == 0
    assert "register (serialised state): 7 bits" in capsys.readouterr().out
    assert main(["algorithms"]) == 0
    assert "store-first" in capsys.readouterr().out


def test_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["witness", "--alg", "bloom", "--n", "6", "--k", "3", "--l", "2"]) == 2
    assert "filter_bits" in capsys.readouterr().err
    assert main(["rows", "--n", "0", "--k", "0", "--l", "0"]) == 2
    assert main(["profile", "--n", "4", "--k", "1", "--l", "1", "--p", "0"]) == 2
    with pytest.raises(SystemExit):
        main(["witness", "--alg", "nope", "--n", "4", "--k", "1", "--l", "1"])
    with pytest.raises(SystemExit):
        main(["table", "--n", "4"])


def test_module_entry_point() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "sdtheory", "rows", "--n", "6", "--k", "2", "--l", "3"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "A-first" in res.stdout
