"""Shared parameter types of the CLI: every integer a user types is bounded here, once, so that
``99999999999999999999`` is a one-line usage error and never reaches a store or a datetime.
Times and durations go through ``auth.timeparse`` (shared with the server's query strings) and
``core.validation.bounded_int``."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

import typer

from modelyard.core.validation import MAX_VERSION

#: Largest count a listing or limit accepts (more rows than any page could hold).
MAX_COUNT = 1_000_000

#: A model or dataset version number (positional).
VersionArg = Annotated[int, typer.Argument(min=1, max=MAX_VERSION, help="The version number.")]
#: An optional version number (positional, may be omitted).
OptionalVersionArg = Annotated[
    int | None, typer.Argument(min=1, max=MAX_VERSION, help="The version number (omit with --delete).")
]


def count_option(*names: str, help: str | None = None, minimum: int = 1, maximum: int = MAX_COUNT) -> object:
    """A bounded integer option (``--max-results``, ``--limit``, ``--depth``...)."""
    return typer.Option(*names, min=minimum, max=maximum, help=help)


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def validate_host(host: str) -> str:
    """An interface to listen on: an IPv4 or IPv6 address or a host name (RFC 1123)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host.strip("[]")
    except ValueError:
        pass
    if 0 < len(host) <= 253 and all(_HOST_LABEL.match(label) for label in host.rstrip(".").split(".")):
        return host
    raise typer.BadParameter(f"{host!r} is not an IP address or a host name", param_hint="--host")
