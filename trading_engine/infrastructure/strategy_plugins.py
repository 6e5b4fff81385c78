"""The strategy catalogue: the built-ins, the installed plug-ins and the configured modules.

A plug-in is a :class:`StrategySpec` that an installed distribution declares in the entry-point
group ``trading_engine.strategies``, or that ``strategies.modules`` names as ``package.module:NAME``.
Each is checked to be a ``StrategySpec`` and gets its ``origin`` set, so the API can say where it
comes from. Two specs with one name, a module that fails to import, or an object that is not a spec
refuse startup with a :class:`StrategyLoadError`: one line naming the sources and the error.

Loading code is the operator's act: only what is installed or configured is imported, never
anything a request names.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from trading_engine.domain.strategies import BUILTIN
from trading_engine.domain.strategy import StrategySpec

ENTRY_POINT_GROUP = "trading_engine.strategies"


class StrategyLoadError(Exception):
    """A strategy could not be loaded; the text is one line for stderr."""


def load_catalogue(
    modules: Sequence[str] = (),
    entry_points: Callable[[], Iterable[importlib.metadata.EntryPoint]] | None = None,
    builtin: Mapping[str, StrategySpec] = BUILTIN,
) -> dict[str, StrategySpec]:
    """The built-ins, then every entry point of the group (sorted by name), then ``modules`` in
    their order; raises StrategyLoadError on the first problem."""
    catalogue: dict[str, StrategySpec] = dict(builtin)
    found = (entry_points or _group_entry_points)()
    for entry in sorted(found, key=lambda e: (e.name, e.value)):
        distribution = getattr(entry.dist, "name", None) or "unknown distribution"
        origin = f"entry point {entry.name} ({distribution})"
        try:
            loaded = entry.load()
        except Exception as exc:
            raise StrategyLoadError(
                f"strategy entry point {entry.name} = {entry.value} ({distribution}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        _add(catalogue, loaded, origin)
    for path in modules:
        _add(catalogue, _import(path), f"strategies.modules {path}")
    return catalogue


def _group_entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def _import(path: str) -> Any:
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise StrategyLoadError(
            f"strategies.modules entry {path!r} is not allowed; write package.module:NAME"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise StrategyLoadError(
            f"strategies.modules: module {module_name} failed to import: {type(exc).__name__}: {exc}"
        ) from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise StrategyLoadError(f"strategies.modules: module {module_name} has no {attribute}") from None


def _add(catalogue: dict[str, StrategySpec], loaded: Any, origin: str) -> None:
    if not isinstance(loaded, StrategySpec):
        raise StrategyLoadError(
            f"{origin} is a {type(loaded).__name__}, not a trading_engine.domain.strategy.StrategySpec"
        )
    existing = catalogue.get(loaded.name)
    if existing is not None:
        raise StrategyLoadError(
            f"two strategies are named {loaded.name!r}: {existing.origin} and {origin}; "
            "uninstall or rename one"
        )
    catalogue[loaded.name] = dataclasses.replace(loaded, origin=origin)
