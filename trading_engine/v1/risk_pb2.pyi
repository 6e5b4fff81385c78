import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RiskLimits(_message.Message):
    __slots__ = ("max_order_notional", "max_position_notional", "max_gross_exposure", "allow_leverage")
    MAX_ORDER_NOTIONAL_FIELD_NUMBER: _ClassVar[int]
    MAX_POSITION_NOTIONAL_FIELD_NUMBER: _ClassVar[int]
    MAX_GROSS_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    ALLOW_LEVERAGE_FIELD_NUMBER: _ClassVar[int]
    max_order_notional: str
    max_position_notional: str
    max_gross_exposure: str
    allow_leverage: bool
    def __init__(self, max_order_notional: _Optional[str] = ..., max_position_notional: _Optional[str] = ..., max_gross_exposure: _Optional[str] = ..., allow_leverage: _Optional[bool] = ...) -> None: ...

class PositionUtilisation(_message.Message):
    __slots__ = ("quantity", "notional", "utilisation")
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    NOTIONAL_FIELD_NUMBER: _ClassVar[int]
    UTILISATION_FIELD_NUMBER: _ClassVar[int]
    quantity: str
    notional: str
    utilisation: str
    def __init__(self, quantity: _Optional[str] = ..., notional: _Optional[str] = ..., utilisation: _Optional[str] = ...) -> None: ...

class Utilisation(_message.Message):
    __slots__ = ("gross_exposure", "gross_exposure_utilisation", "positions", "open_orders")
    class PositionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PositionUtilisation
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PositionUtilisation, _Mapping]] = ...) -> None: ...
    GROSS_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    GROSS_EXPOSURE_UTILISATION_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    OPEN_ORDERS_FIELD_NUMBER: _ClassVar[int]
    gross_exposure: str
    gross_exposure_utilisation: str
    positions: _containers.MessageMap[str, PositionUtilisation]
    open_orders: int
    def __init__(self, gross_exposure: _Optional[str] = ..., gross_exposure_utilisation: _Optional[str] = ..., positions: _Optional[_Mapping[str, PositionUtilisation]] = ..., open_orders: _Optional[int] = ...) -> None: ...

class CircuitBreaker(_message.Message):
    __slots__ = ("is_open", "reason", "tripped_at", "reset_at")
    IS_OPEN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRIPPED_AT_FIELD_NUMBER: _ClassVar[int]
    RESET_AT_FIELD_NUMBER: _ClassVar[int]
    is_open: bool
    reason: str
    tripped_at: _timestamp_pb2.Timestamp
    reset_at: _timestamp_pb2.Timestamp
    def __init__(self, is_open: _Optional[bool] = ..., reason: _Optional[str] = ..., tripped_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reset_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MarketDataFreshness(_message.Message):
    __slots__ = ("fresh", "age_seconds", "stale_pricing")
    FRESH_FIELD_NUMBER: _ClassVar[int]
    AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STALE_PRICING_FIELD_NUMBER: _ClassVar[int]
    fresh: bool
    age_seconds: float
    stale_pricing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, fresh: _Optional[bool] = ..., age_seconds: _Optional[float] = ..., stale_pricing: _Optional[_Iterable[str]] = ...) -> None: ...

class GetRiskStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRiskStatusResponse(_message.Message):
    __slots__ = ("reporting_currency", "limits", "utilisation", "circuit_breaker", "market_data")
    class MarketDataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MarketDataFreshness
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MarketDataFreshness, _Mapping]] = ...) -> None: ...
    REPORTING_CURRENCY_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    UTILISATION_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_BREAKER_FIELD_NUMBER: _ClassVar[int]
    MARKET_DATA_FIELD_NUMBER: _ClassVar[int]
    reporting_currency: str
    limits: RiskLimits
    utilisation: Utilisation
    circuit_breaker: CircuitBreaker
    market_data: _containers.MessageMap[str, MarketDataFreshness]
    def __init__(self, reporting_currency: _Optional[str] = ..., limits: _Optional[_Union[RiskLimits, _Mapping]] = ..., utilisation: _Optional[_Union[Utilisation, _Mapping]] = ..., circuit_breaker: _Optional[_Union[CircuitBreaker, _Mapping]] = ..., market_data: _Optional[_Mapping[str, MarketDataFreshness]] = ...) -> None: ...

class TripCircuitBreakerRequest(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class TripCircuitBreakerResponse(_message.Message):
    __slots__ = ("changed", "circuit_breaker", "cancelled_orders")
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_BREAKER_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_ORDERS_FIELD_NUMBER: _ClassVar[int]
    changed: bool
    circuit_breaker: CircuitBreaker
    cancelled_orders: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, changed: _Optional[bool] = ..., circuit_breaker: _Optional[_Union[CircuitBreaker, _Mapping]] = ..., cancelled_orders: _Optional[_Iterable[str]] = ...) -> None: ...

class ResetCircuitBreakerRequest(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class ResetCircuitBreakerResponse(_message.Message):
    __slots__ = ("changed", "circuit_breaker", "cancelled_orders")
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_BREAKER_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_ORDERS_FIELD_NUMBER: _ClassVar[int]
    changed: bool
    circuit_breaker: CircuitBreaker
    cancelled_orders: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, changed: _Optional[bool] = ..., circuit_breaker: _Optional[_Union[CircuitBreaker, _Mapping]] = ..., cancelled_orders: _Optional[_Iterable[str]] = ...) -> None: ...
