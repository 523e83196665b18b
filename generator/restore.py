"""Objects of frozen dataclasses in slots, rebuilt from the values of their fields.

For the build cache: a value made and checked once is loaded as it was pickled, without its
`__init__` or `__post_init__` running again, and without a Python call per field.
"""

from __future__ import annotations

from typing import Any


def restore_slots(kind: type[Any], *values: Any) -> Any:
    """An object of a frozen dataclass in slots (no `__init__` or `__post_init__` run
    again), from the values of its fields in their order: its `__reduce__` gives them."""
    made = object.__new__(kind)
    setters = _SLOT_SETTERS.get(kind)
    if setters is None:
        # Each slot's descriptor sets it past the frozen class's `__setattr__`, in C.
        setters = _SLOT_SETTERS[kind] = tuple(
            vars(kind)[name].__set__ for name in kind.__dataclass_fields__
        )
    for set_value, value in zip(setters, values, strict=True):
        set_value(made, value)
    return made


_SLOT_SETTERS: dict[type[Any], tuple[Any, ...]] = {}
