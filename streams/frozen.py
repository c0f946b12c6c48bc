"""Frozen dataclasses that are cheap to build: the records the worker makes for every event.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (to get past its
own refusal), which is slow: 3.2 µs for a 12-field ``ScanResult`` here against 0.9 µs for the
same class unfrozen. A cache hit builds eight or so such records (scan results, the decision,
the event, the verdict), and that was an eighth of the worker's CPU on cache hits. ``record``
is ``@dataclass(frozen=True)`` whose ``__init__`` writes the instance's ``__dict__`` directly
(1.2 µs for that ``ScanResult``); everything else (eq, hash, repr, the refusal to assign) is the
dataclass's own.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

_MISSING = object()


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: type[T]) -> type[T]:
    """``@dataclass(frozen=True)`` with a constructor that stores fields without
    ``object.__setattr__``. Classes with ``__post_init__``, init-only or keyword-only fields
    are refused (nothing here needs them, and the constructor does not implement them)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or any(not f.init or f.kw_only for f in fields):
        raise TypeError(f"{cls.__name__}: record supports plain fields only")
    namespace: dict[str, Any] = {"_MISSING": _MISSING}
    params, body = [], []
    for f in fields:
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"    if {f.name} is _MISSING: {f.name} = _factory_{f.name}()")
        else:
            params.append(f.name)
        body.append(f"    d[{f.name!r}] = {f.name}")
    source = "def __init__(self, " + ", ".join(params) + "):\n    d = self.__dict__\n"
    exec(source + "\n".join(body) + "\n", namespace)  # noqa: S102 - field names only
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]
    return cls


def evolve(item: T, **changes: Any) -> T:
    """``dataclasses.replace`` for a record, without its per-call field walk and ``__init__``:
    a copy of the instance's ``__dict__`` with ``changes`` over it (a record's ``__init__``
    only stores its arguments, so the copy is what it would build). Unknown field names are
    refused all the same. On cache hits ``replace`` was 30% of the pipeline's time when the
    scanner set adjusted four results per event with it."""
    unknown = changes.keys() - item.__dataclass_fields__.keys()  # type: ignore[attr-defined]
    if unknown:
        raise TypeError(f"{type(item).__name__} has no field {', '.join(sorted(unknown))}")
    new = object.__new__(type(item))
    fields = new.__dict__
    fields.update(item.__dict__)
    fields.update(changes)
    return new
