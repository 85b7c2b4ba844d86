"""Password hashing, API tokens and session secrets: the one module that handles raw secrets.

Passwords: scrypt from the standard library (memory-hard, so a stolen hash costs an attacker far
more per guess than a fast digest), a random 16-byte salt per user, and the parameters stored in
the hash string so they can be raised later without invalidating existing hashes.

Tokens and session ids are 256-bit random values; a fast sha256 is enough for those (there is
nothing to brute-force), and it lets the store index them. A token looks like
``myd_<prefix>_<secret>``: the prefix is the token's visible id (shown by ``tokens list``, used to
revoke it and to find its row); only ``sha256(token)`` is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

TOKEN_SCHEME = "myd"
_PREFIX_BYTES = 6  # 12 hex characters
_SECRET_BYTES = 32
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 8


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64 parts)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=_SCRYPT_MAXMEM, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check. With no stored hash (unknown user, token-only user) a dummy hash is
    still computed, so response time does not tell which usernames exist."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = (stored or _DUMMY_HASH).split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return stored is not None and hmac.compare_digest(actual, expected)


_DUMMY_HASH = f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(b'0' * 16)}${_b64(b'0' * 32)}"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    """A freshly generated token: ``secret`` is shown once and never stored."""

    secret: str
    token_id: str
    token_hash: str


def generate_token() -> NewToken:
    token_id = secrets.token_hex(_PREFIX_BYTES)
    secret = f"{TOKEN_SCHEME}_{token_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    return NewToken(secret=secret, token_id=token_id, token_hash=sha256_hex(secret))


def parse_token(secret: str) -> tuple[str, str] | None:
    """``(token_id, sha256)`` of a well-formed token, None for anything else."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_SCHEME or len(parts[1]) != 2 * _PREFIX_BYTES or not parts[2]:
        return None
    return parts[1], sha256_hex(secret)


def random_secret() -> str:
    """A session id or CSRF token."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))
