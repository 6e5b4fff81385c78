import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from trading_engine.v1 import market_pb2 as _market_pb2
from trading_engine.v1 import trading_pb2 as _trading_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StrategyStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STRATEGY_STATUS_UNSPECIFIED: _ClassVar[StrategyStatus]
    STRATEGY_STATUS_RUNNING: _ClassVar[StrategyStatus]
    STRATEGY_STATUS_STOPPED: _ClassVar[StrategyStatus]
    STRATEGY_STATUS_ERROR: _ClassVar[StrategyStatus]
STRATEGY_STATUS_UNSPECIFIED: StrategyStatus
STRATEGY_STATUS_RUNNING: StrategyStatus
STRATEGY_STATUS_STOPPED: StrategyStatus
STRATEGY_STATUS_ERROR: StrategyStatus

class AvailableStrategy(_message.Message):
    __slots__ = ("name", "description", "chaos", "parameters", "origin")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CHAOS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    chaos: bool
    parameters: _struct_pb2.Struct
    origin: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., chaos: _Optional[bool] = ..., parameters: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., origin: _Optional[str] = ...) -> None: ...

class StrategyInstance(_message.Message):
    __slots__ = ("strategy_id", "strategy", "symbol", "params", "status", "reason", "created_at", "updated_at", "position", "trades", "limit_hits")
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_HITS_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    strategy: str
    symbol: str
    params: _struct_pb2.Struct
    status: StrategyStatus
    reason: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    position: str
    trades: int
    limit_hits: int
    def __init__(self, strategy_id: _Optional[str] = ..., strategy: _Optional[str] = ..., symbol: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., status: _Optional[_Union[StrategyStatus, str]] = ..., reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., position: _Optional[str] = ..., trades: _Optional[int] = ..., limit_hits: _Optional[int] = ...) -> None: ...

class StrategyPerformance(_message.Message):
    __slots__ = ("strategy_id", "strategy", "symbol", "currency", "status", "trades", "position", "average_entry_price", "realized_pnl", "unrealized_pnl", "fees", "net_pnl", "win_rate", "max_drawdown", "sharpe_ratio", "samples", "interval_seconds", "limit_hits", "ticks_processed")
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_ENTRY_PRICE_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    UNREALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    NET_PNL_FIELD_NUMBER: _ClassVar[int]
    WIN_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_DRAWDOWN_FIELD_NUMBER: _ClassVar[int]
    SHARPE_RATIO_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_HITS_FIELD_NUMBER: _ClassVar[int]
    TICKS_PROCESSED_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    strategy: str
    symbol: str
    currency: str
    status: StrategyStatus
    trades: int
    position: str
    average_entry_price: str
    realized_pnl: str
    unrealized_pnl: str
    fees: str
    net_pnl: str
    win_rate: float
    max_drawdown: float
    sharpe_ratio: float
    samples: int
    interval_seconds: float
    limit_hits: int
    ticks_processed: int
    def __init__(self, strategy_id: _Optional[str] = ..., strategy: _Optional[str] = ..., symbol: _Optional[str] = ..., currency: _Optional[str] = ..., status: _Optional[_Union[StrategyStatus, str]] = ..., trades: _Optional[int] = ..., position: _Optional[str] = ..., average_entry_price: _Optional[str] = ..., realized_pnl: _Optional[str] = ..., unrealized_pnl: _Optional[str] = ..., fees: _Optional[str] = ..., net_pnl: _Optional[str] = ..., win_rate: _Optional[float] = ..., max_drawdown: _Optional[float] = ..., sharpe_ratio: _Optional[float] = ..., samples: _Optional[int] = ..., interval_seconds: _Optional[float] = ..., limit_hits: _Optional[int] = ..., ticks_processed: _Optional[int] = ...) -> None: ...

class ListAvailableStrategiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAvailableStrategiesResponse(_message.Message):
    __slots__ = ("strategies",)
    STRATEGIES_FIELD_NUMBER: _ClassVar[int]
    strategies: _containers.RepeatedCompositeFieldContainer[AvailableStrategy]
    def __init__(self, strategies: _Optional[_Iterable[_Union[AvailableStrategy, _Mapping]]] = ...) -> None: ...

class StartStrategyRequest(_message.Message):
    __slots__ = ("strategy", "symbol", "params")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    symbol: str
    params: _struct_pb2.Struct
    def __init__(self, strategy: _Optional[str] = ..., symbol: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class StartStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyInstance
    def __init__(self, strategy: _Optional[_Union[StrategyInstance, _Mapping]] = ...) -> None: ...

class StopStrategyRequest(_message.Message):
    __slots__ = ("strategy_id",)
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    def __init__(self, strategy_id: _Optional[str] = ...) -> None: ...

class StopStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyInstance
    def __init__(self, strategy: _Optional[_Union[StrategyInstance, _Mapping]] = ...) -> None: ...

class GetStrategyStatusRequest(_message.Message):
    __slots__ = ("strategy_id",)
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    def __init__(self, strategy_id: _Optional[str] = ...) -> None: ...

class GetStrategyStatusResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyInstance
    def __init__(self, strategy: _Optional[_Union[StrategyInstance, _Mapping]] = ...) -> None: ...

class ListActiveStrategiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListActiveStrategiesResponse(_message.Message):
    __slots__ = ("strategies",)
    STRATEGIES_FIELD_NUMBER: _ClassVar[int]
    strategies: _containers.RepeatedCompositeFieldContainer[StrategyInstance]
    def __init__(self, strategies: _Optional[_Iterable[_Union[StrategyInstance, _Mapping]]] = ...) -> None: ...

class GetStrategyPerformanceRequest(_message.Message):
    __slots__ = ("strategy_id",)
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    def __init__(self, strategy_id: _Optional[str] = ...) -> None: ...

class GetStrategyPerformanceResponse(_message.Message):
    __slots__ = ("performance",)
    PERFORMANCE_FIELD_NUMBER: _ClassVar[int]
    performance: StrategyPerformance
    def __init__(self, performance: _Optional[_Union[StrategyPerformance, _Mapping]] = ...) -> None: ...

class StreamStrategyUpdatesRequest(_message.Message):
    __slots__ = ("strategy_id",)
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    def __init__(self, strategy_id: _Optional[str] = ...) -> None: ...

class StrategyStatusChange(_message.Message):
    __slots__ = ("strategy_id", "strategy", "status", "reason")
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    strategy: str
    status: StrategyStatus
    reason: str
    def __init__(self, strategy_id: _Optional[str] = ..., strategy: _Optional[str] = ..., status: _Optional[_Union[StrategyStatus, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class StrategyFill(_message.Message):
    __slots__ = ("strategy_id", "fill_id", "order_id", "symbol", "side", "quantity", "price", "fee", "fee_currency", "timestamp")
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    FILL_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    FEE_CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    fill_id: str
    order_id: str
    symbol: str
    side: _trading_pb2.Side
    quantity: str
    price: str
    fee: str
    fee_currency: str
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, strategy_id: _Optional[str] = ..., fill_id: _Optional[str] = ..., order_id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[_Union[_trading_pb2.Side, str]] = ..., quantity: _Optional[str] = ..., price: _Optional[str] = ..., fee: _Optional[str] = ..., fee_currency: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PnlSample(_message.Message):
    __slots__ = ("strategy_id", "net_pnl", "realized_pnl", "unrealized_pnl", "fees", "position")
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    NET_PNL_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    UNREALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    net_pnl: str
    realized_pnl: str
    unrealized_pnl: str
    fees: str
    position: str
    def __init__(self, strategy_id: _Optional[str] = ..., net_pnl: _Optional[str] = ..., realized_pnl: _Optional[str] = ..., unrealized_pnl: _Optional[str] = ..., fees: _Optional[str] = ..., position: _Optional[str] = ...) -> None: ...

class StreamStrategyUpdatesResponse(_message.Message):
    __slots__ = ("status_change", "fill", "pnl", "gap")
    STATUS_CHANGE_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    PNL_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    status_change: StrategyStatusChange
    fill: StrategyFill
    pnl: PnlSample
    gap: _market_pb2.Gap
    def __init__(self, status_change: _Optional[_Union[StrategyStatusChange, _Mapping]] = ..., fill: _Optional[_Union[StrategyFill, _Mapping]] = ..., pnl: _Optional[_Union[PnlSample, _Mapping]] = ..., gap: _Optional[_Union[_market_pb2.Gap, _Mapping]] = ...) -> None: ...
