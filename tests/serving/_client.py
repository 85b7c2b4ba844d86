"""Drive a serving app in-process: ``call(app, lambda client: ...)`` runs an async block with an
httpx client on the app (httpx.ASGITransport), inside a fresh event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def call(app: Any, block: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serving") as client:
            try:
                return await block(client)
            finally:
                await app.aclose()

    return asyncio.run(main())


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a Prometheus exposition (None when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None
