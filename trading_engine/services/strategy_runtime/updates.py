"""What the runtime tells its watchers: an instance's status changes, its fills (the domain's
``Fill``, which names the instance) and its P&L samples, in the order they happen."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading_engine.domain.orders import Fill
from trading_engine.domain.strategy_record import StrategyStatus
from trading_engine.services.strategy_runtime.instance import Instance


@dataclass(frozen=True)
class StatusChange:
    strategy_id: str
    strategy: str
    status: StrategyStatus
    reason: str | None


@dataclass(frozen=True)
class PnlSample:
    """One sample of an instance's P&L (the samples its drawdown and Sharpe ratio are computed
    from), in the instrument's quote currency."""

    strategy_id: str
    net_pnl: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    position: Decimal


StrategyUpdate = StatusChange | Fill | PnlSample


def status_change(instance: Instance) -> StatusChange:
    return StatusChange(instance.strategy_id, instance.spec.name, instance.status, instance.reason)


def pnl_sample(instance: Instance, mark: Decimal | None) -> PnlSample:
    performance = instance.performance
    return PnlSample(
        strategy_id=instance.strategy_id,
        net_pnl=performance.net_pnl(mark),
        realized_pnl=performance.position.realized_pnl,
        unrealized_pnl=performance.unrealized_pnl(mark),
        fees=performance.position.fees_paid,
        position=performance.position.quantity,
    )
