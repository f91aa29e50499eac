"""`python -m sdtheory`: tables, rows, profiles, witnesses; bad arguments, size limits, help, pipes."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from sdtheory.__main__ import build_parser, main


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


# ---- sizes: refused up front, with the limit in the message ----


@pytest.mark.parametrize(
    ("argv", "limit"),
    [
        (["rows", "--n", "17", "--k", "3", "--l", "3"], "MAX_EXACT_N"),
        (["profile", "--n", "17", "--k", "2", "--l", "2"], "MAX_EXACT_N"),
        (["profile", "--n", "16", "--k", "8", "--l", "8", "--p", "2"], "MAX_JRP_ENTRIES"),
        (["witness", "--alg", "store-first", "--n", "24", "--k", "8", "--l", "8"], "MAX_BATCH_TOKENS"),
        (["witness", "--alg", "store-first", "--n", "25", "--k", "1", "--l", "1"], "MAX_BATCH_N"),
        (["measure", "--alg", "store-first", "--n", "14", "--k", "6", "--l", "6"], "MAX_BATCH_TOKENS"),
        (
            ["witness", "--alg", "multi-pass", "--n", "12", "--k", "6", "--l", "6", "--p", "4"],
            "MAX_BATCH_TOKENS",
        ),
        (["table", "--n", "100000000", "--k", "50000000", "--l", "3"], "MAX_BINOMIAL_BITS"),
        (["table", "--n", "17", "--k", "8", "--l", "8", "--variant", "shared-element"], "16"),
    ],
)
def test_too_large_inputs_are_refused_with_the_limit(
    argv: list[str], limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing printed before the refusal
    assert captured.err.startswith("error: ") and limit in captured.err


SIZES_12_6_6 = ["--n", "12", "--k", "6", "--l", "6"]


def test_largest_allowed_batch_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """Just below MAX_BATCH_TOKENS (n = 12, k = l = 6: 1.1e7 tokens) the witness search runs."""
    assert (
        main(["witness", "--alg", "truncated-store-first", "--param", "max_elements=5", *SIZES_12_6_6]) == 0
    )
    assert "witness" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rows", "--n", "5", "--k", "6", "--l", "1"], "--k=6 must satisfy 0 <= --k <= --n=5"),
        (["rows", "--n", "0", "--k", "0", "--l", "0"], "--n=0 must be >= 1"),
        (["profile", "--n", "5", "--k", "2", "--l", "-1"], "--l=-1 must satisfy"),
        (["witness", "--alg", "store-first", "--n", "4", "--k", "5", "--l", "2"], "--k=5"),
        (["table", "--n", "4", "--k", "-1", "--l", "1"], "--k=-1 must be >= 0"),
        (["table", "--n", "4", "--k", "5", "--l", "1"], "no grid point has --k and --l <= --n"),
        (["profile", "--n", "4", "--k", "1", "--l", "1", "--p", "0"], "--p=0 must be >= 1"),
    ],
)
def test_bad_sizes_name_the_option(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err


def test_profile_reports_every_configuration_count(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["profile", "--n", "5", "--k", "2", "--l", "2"],
        ["profile", "--n", "5", "--k", "2", "--l", "3", "--variant", "shared-element", "--p", "2"],
        ["profile", "--n", "4", "--k", "0", "--l", "2"],
    ):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "configurations" in out and " -1 " not in out, out  # -1 used to mean "not counted"


# ---- help ----


def _parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **sub.choices}


def test_every_command_and_option_has_help() -> None:
    parsers = _parsers()
    sub = next(a for a in parsers[""]._actions if isinstance(a, argparse._SubParsersAction))
    assert {c.dest for c in sub._choices_actions} == set(parsers) - {""}
    for choice in sub._choices_actions:
        assert choice.help and "\n" not in choice.help, choice.dest
    for name, p in parsers.items():
        assert p.description, name
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, (name, action.option_strings)


def test_help_has_no_markup(capsys: pytest.CaptureFixture[str]) -> None:
    for name in _parsers():
        with pytest.raises(SystemExit):
            main([name, "--help"] if name else ["--help"])
        out = capsys.readouterr().out
        assert "``" not in out and ":func:" not in out and ":mod:" not in out, name
        if name in ("", "rows", "witness"):
            assert "MAX_" in out  # the limits are listed


def test_output_into_a_closed_pipe_ends_quietly() -> None:
    """`... | head -1`: the reader leaves early; no BrokenPipeError traceback, status 141."""
    argv = ["table", "--n", "64", "128", "256", "512", "--k", *map(str, range(1, 9))]
    argv += ["--l", *map(str, range(1, 9)), "--p", "1", "2", "3", "--long"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdtheory", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
