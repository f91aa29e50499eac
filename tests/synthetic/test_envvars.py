"""synthetic.envvars: integer settings from the environment, one check for all of them."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthetic.envvars import int_from_env

NAME = "READTWICE_TEST_SETTING"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_unset_or_blank_is_the_callers_default(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(NAME, raising=False)
    else:
        monkeypatch.setenv(NAME, value)
    assert int_from_env(NAME, minimum=1, meaning="a test") is None


@given(minimum=st.integers(-5, 5), number=st.integers(-(10**6), 10**6), pad=st.sampled_from(["", " ", "\t"]))
def test_integers_at_or_above_the_minimum_are_read_and_others_refused(
    minimum: int, number: int, pad: str
) -> None:
    """Any integer text (spaces around it allowed) is read when >= minimum; below it, a ValueError
    names the variable, the value as set and the bound."""
    text = f"{pad}{number}{pad}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(NAME, text)
        if number >= minimum:
            assert int_from_env(NAME, minimum=minimum, meaning="a test") == number
        else:
            with pytest.raises(
                ValueError,
                match="^" + re.escape(f"{NAME}={text!r} must be an integer >= {minimum}: a test") + "$",
            ):
                int_from_env(NAME, minimum=minimum, meaning="a test")


@pytest.mark.parametrize("value", ["1e5", "2.5", "lots", "0x10", "3 4"])
def test_non_integers_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(NAME, value)
    with pytest.raises(ValueError, match=rf"{NAME}={value!r} must be an integer >= 0: what it is for"):
        int_from_env(NAME, minimum=0, meaning="what it is for")
