"""Checks of keyword parameters, one wording for the whole project.

Every public constructor and function that takes a count, a width or a choice validates
it here, so that a user sees the same sentence whichever block rejects the value::

    check_int("lanes", 0, lo=1, hi=64)   -> ValueError("lanes must be in 1..64, not 0")
    check_int("lanes", "4", lo=1)        -> TypeError("lanes must be an integer, not '4'")
    positive_int("epochs", 0)            -> ValueError("epochs must be a positive integer, not 0")
    check_real("dt", "0.1")              -> TypeError("dt must be a real number, not '0.1'")
    check_real("baud", 0, positive=True) -> ValueError("baud must be positive, not 0")
    check_choice("kind", "x", ("a", "b")) -> ValueError("kind must be one of 'a', 'b', not 'x'")

``bool`` is never accepted as an integer (``True`` is an ``int`` in Python, never a count).
This module imports nothing of the project: every layer may use it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["is_int", "check_int", "positive_int", "check_real", "check_choice"]


def is_int(value) -> bool:
    """True for an ``int`` (numpy integers included) that is not a ``bool``."""
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, np.integer))


def check_int(name: str, value, *, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an ``int`` in ``lo..hi`` (either bound optional), else ``TypeError``
    (not an integer) or ``ValueError`` (out of range) naming ``name``."""
    if not is_int(value):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if lo is not None and hi is not None:
            rng = f"in {lo}..{hi}"
        elif lo is not None:
            rng = f"at least {lo}"
        else:
            rng = f"at most {hi}"
        raise ValueError(f"{name} must be {rng}, not {value}")
    return value


def positive_int(name: str, value, *, hi: int | None = None) -> int:
    """``value`` as an ``int >= 1`` (and ``<= hi``); one sentence for both a wrong type
    (``TypeError``) and a value below 1 (``ValueError``): "must be a positive integer"."""
    if not is_int(value):
        raise TypeError(f"{name} must be a positive integer, not {value!r}")
    if int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return check_int(name, value, lo=1, hi=hi)


def check_real(name: str, value, *, positive: bool = False) -> float:
    """``value`` as a finite ``float`` (an ``int`` or ``float``, never a ``bool``), and
    ``> 0`` with ``positive``."""
    if isinstance(value, bool) or not (isinstance(value, (int, float)) or is_int(value)):
        raise TypeError(f"{name} must be a real number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive, not {value!r}")
    return float(value)


def check_choice(name: str, value, choices) -> object:
    """``value`` if it is one of ``choices``, else ``ValueError`` listing them."""
    choices = tuple(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}, not {value!r}")
    return value
