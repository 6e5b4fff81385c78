"""The composition root: the one module that sees every layer and wires them together.

Tests replace any provider with a fake before building the app::

    container = create_container(overrides={"logging": {"level": "DEBUG"}})
    container.clock.override(providers.Object(FakeClock()))
    app = create_app(container)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from dependency_injector import containers, providers
from prometheus_client import CollectorRegistry

from trading_engine.infrastructure.clock import SystemClock
from trading_engine.infrastructure.config import (
    SHIPPED_CONFIG,
    ConfigError,
    env_names,
    merge,
    read_yaml_text,
    validate,
)
from trading_engine.domain.ports.metrics import MetricsLabels
from trading_engine.infrastructure.logging import configure_logging
from trading_engine.infrastructure.observability.noop import NoopMetricsAdapter
from trading_engine.infrastructure.observability.prometheus import PrometheusMetricsAdapter
from trading_engine.services.health import HealthService, Lifecycle, ServiceIdentity


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    # Notices from config validation (e.g. an instance name normalised), logged once at startup.
    startup_notices = providers.Object(())

    logging = providers.Resource(
        configure_logging,
        level=config.logging.level,
        fmt=config.logging.format,
        service=config.service.name,
        instance=config.service.instance_name,
        version=config.service.version,
        environment=config.service.environment,
    )

    clock = providers.Singleton(SystemClock)

    identity = providers.Singleton(
        ServiceIdentity,
        name=config.service.name,
        instance=config.service.instance_name,
        version=config.service.version,
        environment=config.service.environment,
    )

    # -- metrics: the port the domain owns, the adapter chosen by config.metrics.backend --------
    metrics_constant_labels = providers.Callable(
        lambda identity: MetricsLabels(identity.name, identity.instance, identity.version).constant_labels(),
        identity,
    )
    # A registry per container (never prometheus_client's global REGISTRY).
    metrics_registry = providers.Singleton(CollectorRegistry)
    metrics_port = providers.Selector(
        config.metrics.backend,
        prometheus=providers.Singleton(
            PrometheusMetricsAdapter,
            constant_labels=metrics_constant_labels,
            registry=metrics_registry,
            buckets=config.metrics.histogram_buckets,
            max_series_per_metric=config.metrics.max_series_per_metric,
        ),
        none=providers.Singleton(NoopMetricsAdapter),
    )

    lifecycle = providers.Singleton(Lifecycle)

    # Readiness checks by name; components add theirs here.
    readiness_checks = providers.Dict(
        lifecycle=lifecycle,
    )

    health_service = providers.Singleton(
        HealthService,
        identity=identity,
        checks=readiness_checks,
        timeout_seconds=config.health.readiness_timeout_seconds,
        clock=clock,
    )


def create_container(
    config_path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Container:
    """Load the shipped config.yml, merge ``config_path`` and ``overrides`` over it, validate.

    Raises :class:`ConfigError` (one line, names key, value and what is allowed) on any bad value.
    """
    container = Container()
    paths = [SHIPPED_CONFIG]
    if config_path is not None and Path(config_path).resolve() != SHIPPED_CONFIG:
        paths.append(Path(config_path))
    env: dict[str, str] = {}
    for path in paths:
        env.update(env_names(read_yaml_text(path), path))
        try:
            container.config.from_yaml(str(path), required=True)
        except yaml.YAMLError as exc:
            raise ConfigError(
                "config file",
                str(path),
                f"is not valid YAML once environment values are substituted ({type(exc).__name__}); "
                "check the quoting of the environment values it interpolates",
            ) from None
    raw = container.config()
    validated = validate(merge(raw, overrides or {}), env)
    container.config.from_dict(validated.values)
    container.startup_notices.override(providers.Object(tuple(validated.notices)))
    return container
