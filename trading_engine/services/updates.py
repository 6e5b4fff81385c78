"""Fan-out of updates to subscribers that each read at their own pace, within a bound.

A publisher calls :meth:`UpdateHub.publish` on the event loop and never waits: each subscriber
has a buffer of ``capacity`` updates, and when a slow reader lets it fill, the oldest update is
dropped and counted. The reader then receives a :class:`Gap` (how many it lost) before the
updates that are still buffered, so it knows its view has a hole. Memory per subscriber is
bounded and the publisher's cost is one append per subscriber, whatever the readers do.
Closing a subscription (the reader went away) removes it at once; closing the hub ends every
subscription after its buffered updates.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Gap:
    """Updates dropped for this subscriber, the oldest first, because it read too slowly."""

    dropped: int


class Subscription(Generic[T]):
    def __init__(self, hub: UpdateHub[T], capacity: int, accepts: Callable[[T], bool]) -> None:
        self._hub = hub
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._accepts = accepts
        self._dropped = 0
        self._wakeup = asyncio.Event()
        self._closed = False

    def offer(self, item: T) -> None:
        if self._closed or not self._accepts(item):
            return
        if len(self._items) >= self._capacity:
            self._items.popleft()
            self._dropped += 1
        self._items.append(item)
        self._wakeup.set()

    def close(self) -> None:
        """No more updates: the reader ends after what is buffered; the hub forgets it."""
        self._closed = True
        self._wakeup.set()
        self._hub.discard(self)

    def __enter__(self) -> Subscription[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T | Gap:
        while True:
            if self._dropped:
                dropped, self._dropped = self._dropped, 0
                return Gap(dropped)
            if self._items:
                return self._items.popleft()
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()


class UpdateHub(Generic[T]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a subscriber's buffer holds at least one update")
        self._capacity = capacity
        self._subscriptions: set[Subscription[T]] = set()
        self._closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def subscribe(self, accepts: Callable[[T], bool] = lambda item: True) -> Subscription[T]:
        """A new subscription to the updates ``accepts`` lets through (every one by default)."""
        subscription = Subscription(self, self._capacity, accepts)
        if self._closed:
            subscription.close()
        else:
            self._subscriptions.add(subscription)
        return subscription

    def publish(self, item: T) -> None:
        for subscription in tuple(self._subscriptions):
            subscription.offer(item)

    def discard(self, subscription: Subscription[T]) -> None:
        self._subscriptions.discard(subscription)

    def close(self) -> None:
        """End every subscription (each after its buffered updates) and refuse new ones."""
        self._closed = True
        for subscription in tuple(self._subscriptions):
            subscription.close()

    def reopen(self) -> None:
        """Accept subscriptions again (a container started anew after a shutdown)."""
        self._closed = False
