"""Copies of the emulator's stored data, which is JSON-shaped: what a test or the bot gets
back can never change the store, nor the store what they hold."""

from __future__ import annotations

import copy
from typing import Any, TypeVar

T = TypeVar("T")

_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes})


def copied(value: T) -> T:
    """A deep copy, as `copy.deepcopy` makes one, for dicts, lists and tuples of strings,
    numbers and the like: several times faster, and the emulator copies every message and
    call it stores or hands out. Anything else is left to `copy.deepcopy`."""
    return _copied(value)  # type: ignore[no-any-return]


def _copied(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _copied(item) for key, item in value.items()}
    if kind is list:
        return [_copied(item) for item in value]
    if kind in _IMMUTABLE:
        return value
    if kind is tuple:
        return tuple(_copied(item) for item in value)
    return copy.deepcopy(value)
