"""The open micro-batch: messages read but not sealed yet, and when it is time to seal them.

A window opens with its first message and is due when it holds ``max_messages`` or when
``every`` seconds have passed since it opened, by an injected clock (``time.monotonic`` by
default; tests pass a fake one, so nothing waits on the wall clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from modelyard.core.errors import InvalidArgument
from modelyard.data.streaming.source import StreamMessage

__all__ = ["MicroBatcher"]


class MicroBatcher:
    def __init__(
        self,
        *,
        max_messages: int | None = 10_000,
        every: float | None = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_messages is not None and max_messages < 1:
            raise InvalidArgument("the batch size must be at least 1")
        if every is not None and every <= 0:
            raise InvalidArgument("the time window must be positive")
        if max_messages is None and every is None:
            raise InvalidArgument("give a batch size, a time window, or both")
        self.max_messages = max_messages
        self.every = every
        self.clock = clock
        self._messages: list[StreamMessage] = []
        self._ids: set[str] = set()
        self._opened_at: float | None = None

    def __len__(self) -> int:
        return len(self._messages)

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def add(self, messages: Iterable[StreamMessage]) -> int:
        """Add messages not already in the window; returns how many were duplicates."""
        duplicates = 0
        for message in messages:
            if message.id in self._ids:
                duplicates += 1
                continue
            if self._opened_at is None:
                self._opened_at = self.clock()
            self._ids.add(message.id)
            self._messages.append(message)
        return duplicates

    def room(self) -> int | None:
        """How many more messages fit (None: no size limit)."""
        return None if self.max_messages is None else max(0, self.max_messages - len(self._messages))

    def seconds_left(self) -> float | None:
        """Until the time window closes (None: no window open, or no time limit)."""
        if self.every is None or self._opened_at is None:
            return None
        return max(0.0, self._opened_at + self.every - self.clock())

    def due(self) -> bool:
        if not self._messages:
            return False
        if self.max_messages is not None and len(self._messages) >= self.max_messages:
            return True
        left = self.seconds_left()
        return left is not None and left <= 0

    def take(self) -> list[StreamMessage]:
        """Empty the window and return its messages, in the order they were read."""
        messages = self._messages
        self._messages, self._ids, self._opened_at = [], set(), None
        return messages
