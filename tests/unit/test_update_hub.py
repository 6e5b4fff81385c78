"""UpdateHub: order kept, a slow subscriber bounded with a gap marker, closing."""

from __future__ import annotations

import asyncio

import pytest

from trading_engine.services.updates import Gap, UpdateHub


async def drain(subscription, count: int) -> list:
    out = []
    async with asyncio.timeout(1):
        async for item in subscription:
            out.append(item)
            if len(out) == count:
                break
    return out


async def test_each_subscriber_gets_every_update_in_order() -> None:
    hub: UpdateHub[int] = UpdateHub(10)
    first, second = hub.subscribe(), hub.subscribe(lambda n: n % 2 == 0)
    for n in range(6):
        hub.publish(n)
    assert await drain(first, 6) == [0, 1, 2, 3, 4, 5]
    assert await drain(second, 3) == [0, 2, 4]


async def test_a_slow_subscriber_loses_the_oldest_and_is_told() -> None:
    hub: UpdateHub[int] = UpdateHub(3)
    slow, fast = hub.subscribe(), hub.subscribe()
    hub.publish(0)
    assert await drain(fast, 1) == [0]
    for n in range(1, 11):
        hub.publish(n)
    assert await drain(slow, 4) == [Gap(8), 8, 9, 10]  # 0..7 dropped: never more than 3 held
    assert await drain(fast, 4) == [Gap(7), 8, 9, 10]
    hub.publish(11)
    assert await drain(slow, 1) == [11]  # no gap once it keeps up


async def test_closing_frees_the_subscription_and_ends_readers() -> None:
    hub: UpdateHub[int] = UpdateHub(3)
    with hub.subscribe() as subscription:
        assert hub.subscribers == 1
    assert hub.subscribers == 0
    hub.publish(1)
    assert await drain(subscription, 5) == []

    reader = hub.subscribe()
    hub.publish(2)
    hub.close()  # what is buffered is delivered, then the reader ends
    assert await drain(reader, 5) == [2]
    assert await drain(hub.subscribe(), 5) == []  # a closed hub takes no new subscriber
    with pytest.raises(ValueError):
        UpdateHub(0)
