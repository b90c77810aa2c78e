"""Build aiogram's Bot API types on first use rather than all at ``import aiogram``.

aiogram declares its ~400 types with pydantic's ``defer_build=True`` but then calls
``model_rebuild`` on every one of them at the end of ``aiogram/types/__init__.py`` (to resolve
the forward references its modules import only under ``TYPE_CHECKING``). Each of those builds
inlines the schema of every type it reaches (``Message`` reaches almost all of them), so
``import aiogram`` costs ~125 MB of resident memory, most of it for types the bot never sees.

:func:`install` (called by ``bot/__init__.py``, before anything imports aiogram) replaces that
eager rebuild, while aiogram runs it, by what it was for: the names the forward references need
are put into each type's module (``setdefault``: nothing aiogram defined is replaced), and the
type is left to pydantic's ordinary deferred build, on first validation, with the same config
and the same resolved annotations. Nothing else changes: ``model_rebuild`` called by anyone else,
or later, or with ``force=True``, is pydantic's own. When aiogram is already imported this is a
no-op; if aiogram stops calling ``model_rebuild`` this way, its types are built as before.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["install"]

_TYPES_PACKAGE = "aiogram.types."


def install() -> None:
    """Defer the schemas of aiogram's types when aiogram gets imported (no-op when it already is).

    aiogram itself is not imported here (``onesme-bot migrate`` does not need it): the hook waits
    for aiogram's own ``model_rebuild`` loop and removes itself after its last type.
    """
    if "aiogram" in sys.modules or getattr(BaseModel.model_rebuild, "_onesme_lazy", False):
        return
    original = BaseModel.__dict__["model_rebuild"]

    def model_rebuild(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Mapping[str, Any] | None = None,
    ) -> bool | None:
        if (
            _types_namespace is not None
            and not force
            and cls.__module__.startswith(_TYPES_PACKAGE)
            and not cls.__pydantic_complete__
        ):
            module = sys.modules[cls.__module__].__dict__
            for name, value in _types_namespace.items():
                module.setdefault(name, value)
            names = getattr(sys.modules.get("aiogram.types"), "__all__", ())
            if names and names[-1] == cls.__name__:
                BaseModel.model_rebuild = original  # type: ignore[method-assign]
            return None
        result: bool | None = original.__func__(
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth,
            _types_namespace=_types_namespace,
        )
        return result

    model_rebuild._onesme_lazy = True  # type: ignore[attr-defined]
    BaseModel.model_rebuild = classmethod(model_rebuild)  # type: ignore[assignment,method-assign]
