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

:func:`bind_bot_in_one_step` (run by the hook once aiogram's types exist) shortens what every
aiogram object (types, methods, keyboards) runs after validation. aiogram keeps the bot in a
private attribute, ``_bot``, set by ``BotContextController.model_post_init``; pydantic wraps that
method once per class level (each wrapper first initialises the private attributes), so a
``InlineKeyboardButton`` runs four nested wrappers, each lookup of the attribute's (absent)
default doing a function-level import: about 6 µs per object, ~22 objects per update. The
bound method does what the chain ends with, in one step: ``__pydantic_private__ = {"_bot":
bot}``. It is installed only on classes whose chain is made of pydantic's wrappers around
aiogram's own method and whose only private attribute is ``_bot`` (checked on a probe class
first: when pydantic or aiogram do otherwise, nothing is changed), and on their subclasses
created later.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

__all__ = ["bind_bot_in_one_step", "install"]

_TYPES_PACKAGE = "aiogram.types."


def install() -> None:
    """Defer the schemas of aiogram's types when aiogram gets imported (no-op when it already is).

    aiogram itself is not imported here (``onesme-bot migrate`` does not need it): the hook waits
    for aiogram's own ``model_rebuild`` loop and removes itself after its last type.
    """
    if "aiogram" in sys.modules:
        bind_bot_in_one_step()
        return
    if getattr(BaseModel.model_rebuild, "_onesme_lazy", False):
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
                bind_bot_in_one_step()
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


_object_setattr = object.__setattr__
_private_slot = BaseModel.__dict__["__pydantic_private__"].__get__


def _bind_bot(self: BaseModel, context: Any, /) -> None:
    """``BotContextController.model_post_init`` behind pydantic's wrappers, in one step.

    In a subclass with more private attributes (made later, outside aiogram), pydantic's
    wrapper has initialised them before: the bot joins them."""
    bot = context.get("bot") if context else None
    try:
        private = _private_slot(self)
    except AttributeError:
        private = None
    if private is None:
        _object_setattr(self, "__pydantic_private__", {"_bot": bot})
    else:
        private["_bot"] = bot


_bind_bot._onesme_bind_bot = True  # type: ignore[attr-defined]


def _is_pydantic_wrapper(function: Any) -> bool:
    code = getattr(function, "__code__", None)
    return (
        code is not None
        and code.co_name == "wrapped_model_post_init"
        and code.co_filename.endswith("_model_construction.py")
        and callable(getattr(function, "__wrapped__", None))
    )


def _innermost(function: Any) -> Any:
    while _is_pydantic_wrapper(function):
        function = function.__wrapped__
    return function


def _eligible(cls: type[BaseModel], aiogram_post_init: Callable[..., Any]) -> bool:
    """The class runs aiogram's post-init behind pydantic's wrappers (or already ours) and
    holds no private attribute but ``_bot``, without a default."""
    if cls.__pydantic_post_init__ != "model_post_init" or set(cls.__private_attributes__) != {
        "_bot"
    }:
        return False
    if cls.__private_attributes__["_bot"].get_default() is not PydanticUndefined:
        return False
    innermost = _innermost(cls.model_post_init)
    return innermost is aiogram_post_init or innermost is _bind_bot


def bind_bot_in_one_step() -> bool:
    """Install :func:`_bind_bot` on aiogram's objects (see the module doc); True when it is
    installed (now or before). Idempotent; needs aiogram imported (a no-op otherwise)."""
    controller_module = sys.modules.get("aiogram.client.context_controller")
    controller: Any = getattr(controller_module, "BotContextController", None)
    if controller is None:
        return False
    hook = getattr(controller.__dict__.get("__pydantic_init_subclass__"), "__func__", None)
    if getattr(hook, "_onesme_bind_bot", False):
        return True
    aiogram_post_init = _innermost(controller.__dict__.get("model_post_init"))
    if getattr(aiogram_post_init, "__qualname__", "") != "BotContextController.model_post_init":
        return False
    if not _behaves_as_aiogram(controller, aiogram_post_init):
        return False
    pending = list(controller.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if _eligible(cls, aiogram_post_init):
            cls.model_post_init = _bind_bot

    previous = controller.__dict__.get("__pydantic_init_subclass__")

    def __pydantic_init_subclass__(cls: Any, /, **kwargs: Any) -> None:
        if previous is not None:
            previous.__func__(cls, **kwargs)
        else:
            super(controller, cls).__pydantic_init_subclass__(**kwargs)
        if _eligible(cls, aiogram_post_init):
            cls.model_post_init = _bind_bot

    __pydantic_init_subclass__._onesme_bind_bot = True  # type: ignore[attr-defined]
    controller.__pydantic_init_subclass__ = classmethod(__pydantic_init_subclass__)
    return True


def _behaves_as_aiogram(controller: Any, aiogram_post_init: Any) -> bool:
    """On a probe subclass: aiogram's post-init leaves exactly ``{"_bot": bot}`` in the private
    attributes (with and without a bot in the context), and so does :func:`_bind_bot`."""
    try:
        metaclass: Any = type(controller)
        probe: Any = metaclass("_BindBotProbe", (controller,), {"__annotations__": {"x": int}})
        marker = object()
        expected = [{"_bot": marker}, {"_bot": None}]

        def made() -> list[Any]:
            return [
                probe.model_validate({"x": 1}, context={"bot": marker}).__pydantic_private__,
                probe(x=1).__pydantic_private__,
            ]

        if not _eligible(probe, aiogram_post_init) or made() != expected:
            return False
        probe.model_post_init = _bind_bot
        return bool(made() == expected)
    except Exception:
        return False
