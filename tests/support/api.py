"""A small synchronous client of the service's API for tests that run it as a subprocess."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any


class ServiceApi:
    """Calls ``<base_url>/api/v1<path>`` with the bearer token; answers (status, JSON body)."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.base = base_url + "/api/v1"
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None,
             timeout: float | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return err.code, json.loads(err.read())

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        assert status == 200, (path, status, body)
        return body

    def all_orders(self) -> list[dict]:
        """Every stored order, newest first, through every page."""
        orders, cursor = [], None
        while True:
            page = self.get("/orders?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
            orders += page["orders"]
            cursor = page["next_cursor"]
            if cursor is None:
                return orders


def wait_for(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    """Poll ``read()`` until ``done(value)``; fail with the last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"condition not met within {timeout}s: {value!r}"
        time.sleep(0.05)
