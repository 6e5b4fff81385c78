"""Strategy plug-ins: entry points and strategies.modules join the built-ins, or refuse startup."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from trading_engine.__main__ import main
from trading_engine.containers import create_container
from trading_engine.domain.strategies import BUILTIN
from trading_engine.infrastructure.strategy_plugins import StrategyLoadError, load_catalogue

GROUP = "trading_engine.strategies"


def no_entry_points() -> list[EntryPoint]:
    return []


def test_a_configured_module_joins_the_built_ins_with_its_origin() -> None:
    catalogue = load_catalogue(["tests.support.plugin_strategy:SPEC"], entry_points=no_entry_points)
    assert list(catalogue) == [*BUILTIN, "plugin_momentum"]
    assert catalogue["plugin_momentum"].origin == "strategies.modules tests.support.plugin_strategy:SPEC"
    assert all(catalogue[name].origin == "built-in" for name in BUILTIN)


def test_installed_entry_points_are_found() -> None:
    catalogue = load_catalogue()
    assert catalogue["donchian"].origin == "entry point donchian (trading-engine-donchian)"


def test_an_entry_point_is_loaded_by_its_value() -> None:
    entry = EntryPoint("plugin_momentum", "tests.support.plugin_strategy:SPEC", GROUP)
    catalogue = load_catalogue(entry_points=lambda: [entry])
    assert catalogue["plugin_momentum"].origin == "entry point plugin_momentum (unknown distribution)"


@pytest.mark.parametrize(
    ("modules", "entries", "message"),
    [
        (["tests.support.plugin_strategy:DUPLICATE"], [],
         "two strategies are named 'momentum': built-in and strategies.modules tests.support.plugin_strategy:DUPLICATE"),
        (["tests.support.plugin_strategy:SPEC"], [EntryPoint("x", "tests.support.plugin_strategy:SPEC", GROUP)],
         "two strategies are named 'plugin_momentum': entry point x (unknown distribution) and "
         "strategies.modules tests.support.plugin_strategy:SPEC"),
        (["no_such_package.strategies:SPEC"], [],
         "strategies.modules: module no_such_package.strategies failed to import: ModuleNotFoundError: "
         "No module named 'no_such_package'"),
        (["tests.support.plugin_strategy:MISSING"], [], "module tests.support.plugin_strategy has no MISSING"),
        (["tests.support.plugin_strategy:NOT_A_SPEC"], [],
         "strategies.modules tests.support.plugin_strategy:NOT_A_SPEC is a int, not a "
         "trading_engine.domain.strategy.StrategySpec"),
        ([], [EntryPoint("broken", "no_such_package:SPEC", GROUP)],
         "strategy entry point broken = no_such_package:SPEC (unknown distribution) failed to load: "
         "ModuleNotFoundError"),
    ],
)
def test_problems_refuse_with_one_line_naming_the_sources(modules, entries, message) -> None:
    with pytest.raises(StrategyLoadError) as raised:
        load_catalogue(modules, entry_points=lambda: entries)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_container_offers_a_configured_module() -> None:
    container = create_container(overrides={"strategies": {"modules": "tests.support.plugin_strategy:SPEC"}})
    assert "plugin_momentum" in container.strategy_catalogue()


def test_startup_is_refused_with_one_line_and_status_2(monkeypatch, capsys) -> None:
    monkeypatch.setenv("STRATEGY_MODULES", "tests.support.plugin_strategy:DUPLICATE")
    assert main(["--check-config"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trading-engine: two strategies are named 'momentum'") and "\n" not in err


def test_a_malformed_import_path_is_a_config_error(monkeypatch, capsys) -> None:
    monkeypatch.setenv("STRATEGY_MODULES", "not a path")
    assert main(["--check-config"]) == 2
    assert "strategies.modules" in capsys.readouterr().err
