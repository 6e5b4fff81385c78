"""The configuration as pydantic models: one per section of config.yml, then the rules across them.

Every field is required and none has a default: ``config.yml`` is the single source of defaults
and a user's file is merged over it before these models see the result. Validation is pure: it
parses, normalises and refuses, and reports what it normalised as :meth:`Settings.notices`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from trading_engine import __version__
from trading_engine.domain.errors import ValidationError
from trading_engine.domain.instruments import Instrument
from trading_engine.infrastructure.persistence.database_url import schema_for_instance
from trading_engine.infrastructure.persistence.records import MAX_AGED_BATCH
from trading_engine.infrastructure.config.values import (
    VALUE_ERROR,
    Boolean,
    Bps,
    Buckets,
    CashAmounts,
    DatabaseUrl,
    Choice,
    Currency,
    DecimalValue,
    DnsLabel,
    Duration,
    ImportPaths,
    ReplayFiles,
    Integer,
    Number,
    OptionalDnsLabel,
    PositiveDecimal,
    SchemaName,
    Secret,
    Text,
    Url,
    scalar,
)

ENVIRONMENTS = ("development", "testing", "production", "docker")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "console")
METRICS_BACKENDS = ("prometheus", "opentelemetry", "none")
SQLITE_SYNCHRONOUS = ("FULL", "NORMAL", "EXTRA")
MARKET_SOURCES = ("simulated", "replay")
DB_BACKENDS = ("sqlite", "postgres")


def refuse(key: str | None, value: object, allowed: str) -> PydanticCustomError:
    """A rule across fields failed: name the key it is reported on (else the model's place) and
    the value at fault (pydantic would show the whole model)."""
    return PydanticCustomError(VALUE_ERROR, allowed, {"key": key, "value": value})


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServiceSettings(Section):
    name: DnsLabel
    # Empty: the service name. Mixed case is accepted and lowercased, with a notice.
    instance_name: OptionalDnsLabel
    # Empty: the installed package version.
    version: Text(64, allow_empty=True)
    environment: Choice(*ENVIRONMENTS)

    _instance_name_given: str = PrivateAttr("")

    @model_validator(mode="after")
    def _defaults(self) -> ServiceSettings:
        given = self.instance_name or self.name
        self.instance_name = given.lower()
        self.version = self.version or __version__
        self._instance_name_given = given
        return self

    def notices(self) -> tuple[dict[str, Any], ...]:
        if self._instance_name_given == self.instance_name:
            return ()
        return ({"event": "instance_name_normalised", "original": self._instance_name_given,
                 "normalised": self.instance_name},)


class HttpSettings(Section):
    host: Text(253)
    port: Integer(1, 65535)
    shutdown_timeout_seconds: Number(0, 3600)
    max_body_bytes: Integer(1024, 64 * 1024 * 1024)


class GrpcSettings(Section):
    enabled: Boolean
    host: Text(253)
    port: Integer(1, 65535)
    # Largest message received or sent; a larger request is refused with RESOURCE_EXHAUSTED.
    max_message_bytes: Integer(1024, 64 * 1024 * 1024)
    # Updates a stream subscriber may have unread before the oldest are dropped (and a gap sent).
    stream_buffer: Integer(1, 1_000_000)
    # How often readiness is evaluated for grpc.health.v1 (Check and Watch follow it).
    health_interval_seconds: Number(0, 60)


class LoggingSettings(Section):
    level: Choice(*LOG_LEVELS, upper=True)
    format: Choice(*LOG_FORMATS)


class HealthSettings(Section):
    readiness_timeout_seconds: Number(0, 60)


class MetricsSettings(Section):
    enabled: Boolean
    # Disabled means the no-op adapter, whatever backend is named.
    backend: Choice(*METRICS_BACKENDS)
    otlp_endpoint: Url
    otlp_export_interval_ms: Integer(100, 3_600_000)
    bearer_token: Secret
    max_series_per_metric: Integer(1, 100_000)
    histogram_buckets: Buckets

    @model_validator(mode="after")
    def _disabled_is_none(self) -> MetricsSettings:
        if not self.enabled:
            self.backend = "none"
        return self


class AuthSettings(Section):
    api_token: Secret


class AccountSettings(Section):
    reporting_currency: Currency
    initial_cash: CashAmounts


class InstrumentSettings(Section):
    """One tradable instrument; the domain's :class:`Instrument` decides what is valid."""

    symbol: Text(32)
    tick_size: DecimalValue
    lot_size: DecimalValue
    min_quantity: DecimalValue
    initial_price: DecimalValue
    # The most the paper venue fills of one order per tick; empty: unlimited.
    liquidity: PositiveDecimal() | None = None

    @field_validator("liquidity", mode="before")
    @classmethod
    def _empty_is_unlimited(cls, value: Any) -> Any:
        return None if value is None or scalar(value) == "" else value

    @model_validator(mode="after")
    def _is_an_instrument(self) -> InstrumentSettings:
        try:
            self.symbol = Instrument.create(**self.model_dump(exclude={"liquidity"})).symbol
        except ValidationError as exc:
            raise refuse(None, self.symbol, exc.message) from None
        return self


class MarketSettings(Section):
    # simulated: the seeded random walk; replay: history files (infrastructure/market/history.py).
    source: Choice(*MARKET_SOURCES)
    tick_interval_seconds: Number(0, 60)
    volatility_bps: Number(0, 10_000, low_open=False)
    seed: Integer(0, 2**63 - 1)
    stale_after_seconds: Number(0, 3600)
    replay_files: ReplayFiles
    # 1 is real time, 60 a minute of data per second, 0 as fast as the engine takes it.
    replay_speed: Number(0, 1_000_000, low_open=False)
    # true: a restarted replay continues after the newest time in the store; false: from the start.
    replay_resume: Boolean


class VenueSettings(Section):
    slippage_bps: Bps()
    fee_bps: Bps()


class OrdersSettings(Section):
    timeout_seconds: Number(0, 365 * 86400, low_open=False)


class RiskSettings(Section):
    max_order_notional: PositiveDecimal()
    max_position_size: PositiveDecimal()
    limit_threshold: PositiveDecimal()
    allow_leverage: Boolean


class PersistenceSettings(Section):
    backend: Choice(*DB_BACKENDS)
    db_path: Text(4096)
    synchronous: Choice(*SQLITE_SYNCHRONOUS, upper=True)
    # backend postgres: the server's URL, never shown with its password.
    url: DatabaseUrl
    # backend postgres: the instance's schema; empty: service.instance_name with "-" as "_".
    schema_name: SchemaName = Field(alias="schema")
    # Finished orders older than this leave the store for the archive; 0 keeps everything.
    retention: Duration(zero="keeps everything")
    archive_dir: Text(4096)
    retention_sweep_interval: Duration(most=timedelta(days=1))
    retention_batch_size: Integer(1, MAX_AGED_BATCH)
    # Below this much free space in the local data directory new orders are refused; 0: no guard.
    min_free_bytes: Integer(0, 2**63 - 1)

    @model_validator(mode="after")
    def _postgres_needs_a_url(self) -> PersistenceSettings:
        if self.backend == "postgres" and not self.url:
            raise refuse("persistence.url", "", "must be set when persistence.backend is postgres, e.g. "
                         "postgresql://engine:secret@db:5432/trading_ecosystem")
        return self


class StrategiesSettings(Section):
    enable_chaos: Boolean
    resume_on_start: Boolean
    max_instances: Integer(1, 10_000)
    max_position_notional: PositiveDecimal()
    max_orders_per_second: Number(0, 1000)
    max_open_orders: Integer(1, 1000)
    breaker_after_limit_hits: Integer(1, 1_000_000)
    limit_hits_window_seconds: Number(0, 86_400)
    performance_interval_seconds: Number(0, 3600)
    # Strategy plug-ins to import besides the installed entry points: package.module:NAME.
    modules: ImportPaths


class BacktestsSettings(Section):
    # Files a backtest submitted through the API may name (plain names under this directory).
    data_dir: Text(4096)
    # Where each backtest's record and files are kept (they survive a restart).
    results_dir: Text(4096)
    max_concurrent: Integer(1, 64)


class Settings(Section):
    """The whole configuration, after ``${VAR:default}`` interpolation and merging."""

    model_config = ConfigDict(
        title="trading-system-engine configuration",
        json_schema_extra={
            "description": "config.yml after ${VAR:default} interpolation: the values the service "
            "validates. The shipped config.yml itself holds ${VAR:default} strings."
        },
    )

    service: ServiceSettings
    http: HttpSettings
    grpc: GrpcSettings
    logging: LoggingSettings
    health: HealthSettings
    metrics: MetricsSettings
    auth: AuthSettings
    account: AccountSettings
    instruments: Annotated[list[InstrumentSettings], Field(min_length=1)]
    market: MarketSettings
    venue: VenueSettings
    orders: OrdersSettings
    risk: RiskSettings
    persistence: PersistenceSettings
    strategies: StrategiesSettings
    backtests: BacktestsSettings

    @field_validator("instruments")
    @classmethod
    def _each_symbol_once(cls, entries: list[InstrumentSettings]) -> list[InstrumentSettings]:
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            if entry.symbol in seen:
                raise refuse(f"instruments[{index}].symbol", entry.symbol, "is listed twice; list each symbol once")
            seen.add(entry.symbol)
        return entries

    @model_validator(mode="after")
    def _rules_across_sections(self) -> Settings:
        production = self.service.environment == "production"
        if self.strategies.enable_chaos and production:
            raise refuse("strategies.enable_chaos", True, "chaos strategies are refused in production; "
                         "set it to false or use another environment")
        if not self.auth.api_token and production:
            raise refuse("auth.api_token", "", "must be set in production: every POST/PUT/DELETE needs it")
        self._check_currencies()
        self._check_replay()
        self.persistence.schema_name = self.persistence.schema_name or schema_for_instance(
            self.service.instance_name
        )
        return self

    def _check_replay(self) -> None:
        files = self.market.replay_files
        if self.market.source == "replay" and not files:
            raise refuse("market.replay_files", "", "must name at least one SYMBOL=file when market.source is replay")
        symbols = {entry.symbol for entry in self.instruments}
        for symbol in files:
            if symbol not in symbols:
                raise refuse("market.replay_files", symbol, f"is not a configured instrument; configured: "
                             f"{', '.join(sorted(symbols))}")

    def _check_currencies(self) -> None:
        """Every quote currency and every cash currency must convert into the reporting currency
        through a configured instrument, or equity and limits could not be computed."""
        reporting = self.account.reporting_currency
        symbols = {entry.symbol for entry in self.instruments}
        quotes = {entry.symbol.partition("-")[2] for entry in self.instruments}
        for code in sorted((quotes | set(self.account.initial_cash)) - {reporting}):
            if f"{code}-{reporting}" not in symbols and f"{reporting}-{code}" not in symbols:
                raise refuse("instruments", code, f"no instrument converts {code} into the reporting "
                             f"currency {reporting}; configure {code}-{reporting} or {reporting}-{code}")

    def notices(self) -> tuple[dict[str, Any], ...]:
        """What validation normalised, to log once logging is set up."""
        return self.service.notices()


def config_schema() -> dict[str, Any]:
    """The JSON schema of a user's configuration file, for editors: the values after interpolation,
    every key optional (the shipped file supplies the rest) but an instrument entry whole (a list
    replaces the shipped one)."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **Settings.model_json_schema()}
    schema.pop("required")
    for name, definition in schema["$defs"].items():
        if name != InstrumentSettings.__name__:
            definition.pop("required", None)
    return schema
