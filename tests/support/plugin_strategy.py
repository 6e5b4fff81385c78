"""A strategy plug-in loaded through ``strategies.modules`` in tests: a copy of ``momentum`` under
another name, and objects that are not specs."""

from __future__ import annotations

import dataclasses

from trading_engine.domain.strategies import momentum

SPEC = dataclasses.replace(momentum.SPEC, name="plugin_momentum", description="momentum, loaded as a module")
DUPLICATE = momentum.SPEC  # a second strategy named "momentum"
NOT_A_SPEC = 42
