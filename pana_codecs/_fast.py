"""Fast positional constructors for frozen slotted dataclasses on the hot paths (issue 10).

A frozen dataclass's ``__init__`` sets every field through ``object.__setattr__`` (about 0.2 us a
field). ``frozen_maker(cls)`` returns ``make(*fields)`` that builds the very same object, of type
``cls``, several times faster: it fills a plain slotted twin of ``cls`` (same slots, same order,
so the same memory layout) with ordinary attribute stores and then sets ``__class__`` to ``cls``
(CPython allows that between layout-compatible classes). Equality, hashing, ``repr`` and
immutability are those of ``cls``; nothing is validated beyond what ``cls.__init__`` validates
(which is nothing: classes with ``__post_init__`` are refused). Where the class assignment is
not possible (a subclass of another dataclass, another implementation), the maker fills the
slots through their descriptors, which still skips ``object.__setattr__``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

__all__ = ["frozen_maker"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_new = object.__new__


def frozen_maker(cls: type[T]) -> Callable[..., T]:
    """``make(...)``: ``cls(...)`` (same parameters, same defaults) for a frozen dataclass."""
    params_of: Any = getattr(cls, "__dataclass_params__", None)
    if params_of is None or not params_of.frozen:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass")
    fields = dataclasses.fields(cast(Any, cls))
    names = tuple(f.name for f in fields)
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: __post_init__ is not supported")
    setters: dict[str, Any] = {}
    for name in names:
        slot: Any = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
        if type(slot).__name__ != "member_descriptor":
            raise TypeError(f"{cls.__name__}.{name} is not a slot")
        setters[name] = slot.__set__
    namespace: dict[str, Any] = {"_new": _new, "_cls": cls}
    positional: list[str] = []
    keyword: list[str] = []
    for i, f in enumerate(fields):
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: default_factory is not supported")
        param = f.name
        if f.default is not dataclasses.MISSING:
            namespace[f"_d{i}"] = f.default
            param += f"=_d{i}"
        (keyword if f.kw_only else positional).append(param)
    params = positional + (["*", *keyword] if keyword else [])
    twin = type(f"_{cls.__name__}Fill", (), {"__slots__": names})
    try:
        if cls.__bases__ != (object,) or getattr(cls, "__slots__", None) != names:
            raise TypeError("not a layout twin")
        probe: Any = _new(twin)
        probe.__class__ = cls
    except TypeError:  # a subclass (or another implementation): fill the slots directly
        namespace.update({f"_s{i}": setters[n] for i, n in enumerate(names)})
        body = "".join(f"    _s{i}(o, {n})\n" for i, n in enumerate(names))
        head = "    o = _new(_cls)\n"
        tail = "    return o\n"
    else:
        namespace["_twin"] = twin
        body = "".join(f"    o.{n} = {n}\n" for n in names)
        head = "    o = _new(_twin)\n"
        tail = "    o.__class__ = _cls\n    return o\n"
    source = f"def make({', '.join(params)}):\n{head}{body}{tail}"
    exec(source, namespace)  # noqa: S102 - generated from the dataclass's own field names
    make: Callable[..., T] = namespace["make"]
    make.__qualname__ = f"frozen_maker({cls.__name__})"
    make.__doc__ = f"Build a {cls.__name__} from its fields (fast path)."
    return make
