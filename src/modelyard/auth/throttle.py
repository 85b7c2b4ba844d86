"""Login backoff: after a few failed logins, each further attempt must wait, doubling each time.

Failures are counted per user name (``user:<name>``) and per client address (``addr:<ip>``)
in the metadata store, so every server replica sees the same counts (the server keeps no state
of its own). Once a key has ``free_failures`` failures (an address gets four times as many, as
several people may share one behind a proxy), the next attempt must wait 1 s, then 2 s, 4 s, ...
up to ``max_backoff_ms``; an attempt that comes too early is refused without checking the
password (HTTP 429 with ``Retry-After``), so it costs no password hash and adds no failure.
A successful login clears its user name's count; a key with no failure for an hour (or twice the
longest backoff, if longer) starts again from zero.

Locking a user name out is a denial of service anyone can cause by guessing wrong on purpose:
the wait is bounded (``max_backoff_ms``, 15 minutes by default) and tokens keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelyard.core.errors import LoginThrottled
from modelyard.core.tracking import now_millis
from modelyard.store.auth import AuthStore

#: How much more failure an address is allowed than a single user name.
ADDRESS_FACTOR = 4
_KEY_LENGTH = 300


@dataclass(frozen=True)
class LoginPolicy:
    free_failures: int = 5
    max_backoff_ms: int = 900_000

    @property
    def reset_after_ms(self) -> int:
        return max(3_600_000, 2 * self.max_backoff_ms)

    def wait_ms(self, failures: int, free: int) -> int:
        """How long after the last failure the next attempt must wait."""
        if failures < free or self.max_backoff_ms <= 0:
            return 0
        return min(self.max_backoff_ms, 1000 * 2 ** min(failures - free, 40))


class LoginThrottle:
    def __init__(
        self, store: AuthStore, policy: LoginPolicy | None = None, *, clock: Callable[[], int] = now_millis
    ) -> None:
        self.store = store
        self.policy = policy or LoginPolicy()
        self.clock = clock

    @staticmethod
    def user_key(username: str) -> str:
        return f"user:{username}"[:_KEY_LENGTH]

    @staticmethod
    def address_key(address: str | None) -> str | None:
        return f"addr:{address}"[:_KEY_LENGTH] if address else None

    def _keys(self, username: str, address: str | None) -> dict[str, int]:
        """Each key with the failures it may have before the backoff starts."""
        keys = {self.user_key(username): self.policy.free_failures}
        addr = self.address_key(address)
        if addr is not None:
            keys[addr] = self.policy.free_failures * ADDRESS_FACTOR
        return keys

    def check(self, username: str, address: str | None) -> None:
        """LoginThrottled if an attempt for ``username`` from ``address`` must wait."""
        keys = self._keys(username, address)
        now = self.clock()
        waits = [
            last + self.policy.wait_ms(failures, keys[key]) - now
            for key, (failures, last) in self.store.login_failures(list(keys)).items()
            if now - last < self.policy.reset_after_ms
        ]
        longest = max(waits, default=0)
        if longest > 0:
            raise LoginThrottled(longest)

    def failed(self, username: str, address: str | None) -> None:
        now = self.clock()
        for key in self._keys(username, address):
            self.store.record_login_failure(key, at=now, reset_before=now - self.policy.reset_after_ms)

    def succeeded(self, username: str) -> None:
        self.store.clear_login_failures(self.user_key(username))
