"""What a model server serves: endpoints, their variants, and where predictions go.

These are the interfaces between the model server (``serving/app.py``) and deployments
(``serving/deployments.py``): a deployment becomes an :class:`Endpoint`, and the server's
:class:`ServingState` is the one place it is swapped in, atomically.

- An :class:`Endpoint` has a name (what clients call: ``/v1/models/{name}/predict``) and one or more
  :class:`ServedVariant` (a loaded model, :class:`~modelyard.serving.host.ModelHost`, with a traffic
  weight in percent, or ``shadow=True``). ``choose(key)`` picks the variant that answers a request
  and the shadows that see a copy of it: weighted random without a key, a stable hash of the key
  into buckets 0..99 with one (so one user always meets the same variant: sticky A/B).
- Shadow variants are called after the answer is sent, off the response path; their outputs go to
  the sink only, never to the client.
- A :class:`PredictionSink` receives one :class:`PredictionRecord` per request that reached a
  variant of a known endpoint, answered or failed (and per shadow call). ``offer`` must never
  block and never raise: a logger that cannot keep up drops and counts (``serving/predlog.py``).
- ``modelyard serve m@prod`` serves one endpoint named ``m`` with a single variant.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.validation import validate_entity_name

if TYPE_CHECKING:
    from modelyard.serving.host import ModelHost

__all__ = ["Endpoint", "MatrixColumns", "PredictionRecord", "PredictionSink", "ServedVariant", "ServingState"]


class MatrixColumns(Mapping[str, Any]):
    """A matrix request's input seen column by column (``{column: 1-D array}``), without slicing
    it on the request path: building it keeps a reference to the array and the column names only;
    a column is a view made when asked for. ``tolist()`` (what the prediction log's JSON encoder
    calls) is ``{column: [values]}`` in one conversion, cheaper than encoding a view per column."""

    __slots__ = ("_data", "_names")

    def __init__(self, data: Any, names: tuple[str, ...]) -> None:
        self._data = data
        self._names = names

    def __getitem__(self, key: str) -> Any:
        try:
            return self._data[:, self._names.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    @property
    def array(self) -> Any:
        """The request's 2-D array (rows x columns), not copied."""
        return self._data

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def tolist(self) -> dict[str, list[Any]]:
        return dict(zip(self._names, self._data.T.tolist(), strict=False))


class PredictionRecord(NamedTuple):
    """One answered request (or one shadow call), as the sink receives it.

    ``inputs`` is the request's model input, column by column (a mapping ``{column: 1-D array}``,
    a :class:`MatrixColumns` for a matrix request; a tensor model's single input is under
    ``"input"``); ``outputs`` is the model's output for those rows
    (a numpy array, one entry per row). Both are the server's own arrays: a sink that keeps them
    beyond ``offer`` must not modify them.

    A failed request (``status="error"``) carries the inputs as far as they were decoded (``{}``
    when decoding failed), ``outputs=None`` and the error's one-line message in ``error``."""

    request_id: str
    endpoint: str
    variant: str
    model_name: str
    model_version: int
    inputs: Mapping[str, Any]
    outputs: Any
    latency_ms: float
    timestamp_ms: int
    shadow: bool
    status: str  # "ok" or "error"
    error: str | None = None


class PredictionSink(Protocol):
    """Where the server hands every prediction. ``offer`` never blocks and never raises."""

    def offer(self, record: PredictionRecord) -> None: ...


@dataclass(frozen=True, eq=False)
class ServedVariant:
    """One model behind an endpoint. ``weight`` is its share of live traffic in percent (the live
    variants' weights add up to 100); a shadow variant has weight 0 and sees a copy of every request."""

    name: str
    host: ModelHost
    weight: int = 100
    shadow: bool = False

    @property
    def model_name(self) -> str:
        return self.host.model_name

    @property
    def model_version(self) -> int:
        return self.host.model_version


def _bucket(key: str) -> int:
    """A stable bucket 0..99 for a request key (the same in every process and on every restart)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big") % 100


@dataclass(frozen=True, eq=False)
class Endpoint:
    """A named endpoint and its variants; see the module docstring. ``sticky_key`` names the request
    header (or JSON field) whose value keeps a caller on one variant; None: random by weight."""

    name: str
    variants: tuple[ServedVariant, ...]
    sticky_key: str | None = None
    _live: tuple[ServedVariant, ...] = field(init=False, repr=False)
    _shadows: tuple[ServedVariant, ...] = field(init=False, repr=False)
    _cumulative: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        validate_entity_name(self.name, "endpoint name")
        variants = tuple(self.variants)
        if not variants:
            raise InvalidArgument(f"endpoint {self.name!r} has no variant")
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise InvalidArgument(f"endpoint {self.name!r} has two variants with the same name")
        live = tuple(v for v in variants if not v.shadow)
        if not live:
            raise InvalidArgument(f"endpoint {self.name!r} has only shadow variants: nothing would answer")
        for v in variants:
            if not 0 <= v.weight <= 100:
                raise InvalidArgument(f"variant {v.name!r}: weight must be 0..100 percent, got {v.weight}")
        total = sum(v.weight for v in live)
        if total != 100:
            raise InvalidArgument(f"endpoint {self.name!r}: live variants' weights add up to {total}, not 100")
        cumulative, running = [], 0
        for v in live:
            running += v.weight
            cumulative.append(running)
        object.__setattr__(self, "variants", variants)
        object.__setattr__(self, "_live", live)
        object.__setattr__(self, "_shadows", tuple(v for v in variants if v.shadow))
        object.__setattr__(self, "_cumulative", tuple(cumulative))

    @classmethod
    def single(cls, host: ModelHost, name: str | None = None) -> Endpoint:
        """One model, all traffic: what ``modelyard serve NAME@ALIAS`` serves (named after the model)."""
        return cls(name=name or host.model_name, variants=(ServedVariant(name="default", host=host),))

    @property
    def shadows(self) -> tuple[ServedVariant, ...]:
        return self._shadows

    @property
    def live(self) -> tuple[ServedVariant, ...]:
        return self._live

    def choose(self, key: str | None = None) -> tuple[ServedVariant, tuple[ServedVariant, ...]]:
        """The variant that answers and the shadows that see a copy (see the module docstring)."""
        if len(self._live) == 1:
            return self._live[0], self._shadows
        bucket = random.randrange(100) if key is None else _bucket(key)
        for variant, upper in zip(self._live, self._cumulative, strict=True):
            if bucket < upper:
                return variant, self._shadows
        return self._live[-1], self._shadows  # unreachable: weights add up to 100

    def variant(self, name: str) -> ServedVariant:
        for v in self.variants:
            if v.name == name:
                return v
        raise NotFound(f"endpoint {self.name!r} has no variant {name!r}")


class ServingState:
    """The endpoints a server serves, swapped atomically: readers take ``get`` / ``endpoints()``
    without a lock (one dict read of an immutable mapping); writers replace the whole mapping.
    ``set_endpoint`` is the hot-swap hook: load the new models first, then set the endpoint;
    requests already running finish on the old variant's host."""

    def __init__(self, endpoints: Iterable[Endpoint] = ()) -> None:
        self._lock = threading.Lock()
        self._endpoints: Mapping[str, Endpoint] = {}
        self._listeners: list[Any] = []
        for endpoint in endpoints:
            self.set_endpoint(endpoint)

    def get(self, name: str) -> Endpoint:
        try:
            return self._endpoints[name]
        except KeyError:
            raise NotFound(f"no model or endpoint named {name!r} is served here") from None

    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(self._endpoints.values())

    def names(self) -> tuple[str, ...]:
        return tuple(self._endpoints)

    def set_endpoint(self, endpoint: Endpoint) -> None:
        with self._lock:
            updated = dict(self._endpoints)
            updated[endpoint.name] = endpoint
            self._endpoints = updated
        for listener in list(self._listeners):
            listener(endpoint.name)

    def remove_endpoint(self, name: str) -> None:
        with self._lock:
            if name not in self._endpoints:
                raise NotFound(f"no endpoint named {name!r} is served here")
            updated = dict(self._endpoints)
            del updated[name]
            self._endpoints = updated
        for listener in list(self._listeners):
            listener(name)

    def on_change(self, listener: Any) -> None:
        """Call ``listener(endpoint_name)`` after every change (the app refreshes its metrics)."""
        self._listeners.append(listener)
