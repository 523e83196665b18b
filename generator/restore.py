"""Objects of frozen dataclasses in slots, rebuilt from the values of their fields.

For the build cache: a value made and checked once is loaded as it was pickled, without its
`__init__` or `__post_init__` running again, and without a Python call per field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def slots_maker(kind: type[Any], name: str) -> Callable[..., Any]:
    """A function that makes an object of the frozen dataclass in slots `kind` from the
    values of its fields in their order (no `__init__` or `__post_init__` run again): for
    `kind`'s `__reduce__`, loaded by the hundred thousand. Each slot is set by its
    descriptor, past the frozen class's `__setattr__`, in C; the function is written out for
    `kind` (a name per setter, no loop, no lookup by class): 2.5 times as quick to load as
    one function for every class was.

    Pickled by reference, as `name` in kind's module: it must be assigned to that name there.
    """
    fields = list(kind.__dataclass_fields__)
    scope: dict[str, Any] = {"_new": object.__new__, "_kind": kind}
    for index, field in enumerate(fields):
        scope[f"_set{index}"] = vars(kind)[field].__set__
    values = ", ".join(f"v{index}" for index in range(len(fields)))
    sets = "".join(f"    _set{index}(made, v{index})\n" for index in range(len(fields)))
    exec(f"def {name}({values}):\n    made = _new(_kind)\n{sets}    return made\n", scope)
    made: Callable[..., Any] = scope[name]
    made.__module__ = kind.__module__
    made.__qualname__ = name
    made.__doc__ = f"A {kind.__name__} from the values of its fields (see `restore.slots_maker`)."
    return made
