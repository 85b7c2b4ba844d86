"""``modelyard serve --ray``: the same serving app (``create_serving_app``, built by
``workers.build_app``) as a Ray Serve deployment, scaled out in replicas across a Ray cluster.

Each replica builds the app itself at start-up from the ``ServeConfig`` (stores opened from its
settings, every model loaded from hash-verified artifacts), through Ray Serve's late-bound ASGI
ingress (``serve.ingress()`` with ``__serve_build_asgi_app__``): Ray's HTTP proxy forwards each
request to a replica, which runs the app unchanged: the three protocols, micro-batching, metrics
per replica. The replicas need the stores the driver names, so on a cluster give a PostgreSQL or
server store URI and an S3 artifact store; a SQLite file and a local directory work on one machine.

Scaling is Ray Serve's: a fixed ``replicas`` count, or autoscaling between ``min_replicas`` and
``max_replicas`` on the requests in flight per replica (``target_ongoing_requests``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument
from modelyard.core.extras import require_extra

if TYPE_CHECKING:
    from modelyard.serving.workers import ServeConfig

__all__ = ["APP_NAME", "RayServeOptions", "ray_serve_application", "serve_on_ray", "start_on_ray", "stop_on_ray"]

APP_NAME = "modelyard"
DEPLOYMENT_NAME = "ModelServer"


@dataclass(frozen=True)
class RayServeOptions:
    """How the deployment scales: ``replicas`` fixed, or autoscaling when ``max_replicas`` is
    above ``min_replicas``."""

    address: str | None = None  # ray://host:10001, "auto", or None: a local Ray instance
    replicas: int = 1
    min_replicas: int | None = None
    max_replicas: int | None = None
    target_ongoing_requests: float = 2.0
    max_ongoing_requests: int = 64
    cpus_per_replica: float = 1.0

    def checked(self) -> RayServeOptions:
        if not 1 <= self.replicas <= 10_000:
            raise InvalidArgument(f"replicas must be from 1 to 10000, got {self.replicas}")
        if self.min_replicas is not None or self.max_replicas is not None:
            low = self.min_replicas if self.min_replicas is not None else 1
            high = self.max_replicas if self.max_replicas is not None else max(low, self.replicas)
            if not 0 <= low <= high <= 10_000 or high < 1:
                raise InvalidArgument(f"autoscaling needs 0 <= min replicas <= max replicas (>= 1), got {low}..{high}")
        if not 0 < self.target_ongoing_requests <= 10_000:
            raise InvalidArgument(f"target ongoing requests must be above 0, got {self.target_ongoing_requests}")
        if not 1 <= self.max_ongoing_requests <= 100_000:
            raise InvalidArgument(f"max ongoing requests must be from 1 to 100000, got {self.max_ongoing_requests}")
        if not 0 < self.cpus_per_replica <= 1024:
            raise InvalidArgument(f"CPUs per replica must be above 0, got {self.cpus_per_replica}")
        return self

    def deployment_options(self) -> dict[str, Any]:
        """The keyword arguments of ``serve.deployment`` these options stand for."""
        options: dict[str, Any] = {
            "name": DEPLOYMENT_NAME,
            "max_ongoing_requests": self.max_ongoing_requests,
            "ray_actor_options": {"num_cpus": self.cpus_per_replica},
        }
        if self.min_replicas is None and self.max_replicas is None:
            options["num_replicas"] = self.replicas
        else:
            low = self.min_replicas if self.min_replicas is not None else 1
            options["autoscaling_config"] = {
                "min_replicas": low,
                "initial_replicas": min(max(self.replicas, low), self.max_replicas or self.replicas),
                "max_replicas": self.max_replicas if self.max_replicas is not None else max(low, self.replicas),
                "target_ongoing_requests": self.target_ongoing_requests,
            }
        return options


class OneRequestId:
    """The app behind Ray Serve's proxy, answering with one ``x-request-id`` header. The proxy
    gives every request an id, passes it to the replica in ``x-request-id`` (the client's own, when
    it sent one), and sets that header on the answer itself; the app adopts the id it is given, and
    its own copy of the header would make the answer carry it twice (``id, id``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not any(k.lower() == b"x-request-id" for k, _ in scope.get("headers") or ()):
            await self.app(scope, receive, send)
            return

        async def without_ours(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers") or () if k.lower() != b"x-request-id"]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, without_ours)


def ray_serve_application(config: ServeConfig, options: RayServeOptions) -> Any:
    """The Ray Serve application (a bound deployment) serving ``config``'s models; run it with
    ``serve.run``. Nothing is started here."""
    require_extra("ray", purpose="modelyard serve --ray needs Ray Serve")
    from ray import serve

    class ModelServer:
        """One replica: the serving app, built where the replica runs."""

        def __init__(self, config: ServeConfig) -> None:
            self.config = config

        def __serve_build_asgi_app__(self) -> Any:
            from modelyard.serving.workers import build_app

            return OneRequestId(build_app(self.config))

    deployment: Any = serve.deployment(serve.ingress()(ModelServer), **options.checked().deployment_options())
    return deployment.bind(config)


def start_on_ray(config: ServeConfig, options: RayServeOptions) -> tuple[str, bool]:
    """Connect to (or start) Ray, start Ray Serve's HTTP proxy on ``config.host:config.port`` and
    deploy the app; returns the proxy's URL once every replica is up, and whether Ray was started
    here (so ``stop_on_ray`` shuts it down)."""
    ray = require_extra("ray", purpose="modelyard serve --ray needs Ray Serve")
    from ray import serve

    application = ray_serve_application(config, options)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=options.address,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
            configure_logging=False,
        )
    try:
        serve.start(http_options={"host": config.host, "port": config.port})
        serve.run(application, name=APP_NAME, route_prefix="/", blocking=False)
    except BaseException:
        stop_on_ray(started_here)
        raise
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"http://{host}:{config.port}", started_here


def stop_on_ray(started_here: bool) -> None:
    """Delete the app and stop Ray Serve (and Ray, if ``start_on_ray`` started it)."""
    ray = require_extra("ray", purpose="modelyard serve --ray needs Ray Serve")
    from ray import serve

    try:
        serve.shutdown()
    finally:
        if started_here:
            ray.shutdown()


def serve_on_ray(config: ServeConfig, options: RayServeOptions, *, announce: Callable[[str], None] = print) -> None:
    """``start_on_ray``, then wait for SIGINT or SIGTERM, then ``stop_on_ray``."""
    if config.port == 0:
        raise InvalidArgument("--ray needs an explicit --port (Ray Serve's proxy does not pick a free one)")
    url, started_here = start_on_ray(config, options)
    stop = threading.Event()
    previous: dict[int, Any] = {}
    try:
        # After ray.init: Ray's driver installs its own SIGTERM handler (dump and abort), which
        # would otherwise win over a clean shutdown.
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
        scaling = options.deployment_options()
        replicas = scaling.get("num_replicas") or "{min_replicas}..{max_replicas} (autoscaling)".format(
            **scaling["autoscaling_config"]
        )
        announce(f"serving {config.served} on Ray Serve at {url} with {replicas} replica(s)")
        stop.wait()
    finally:
        try:
            stop_on_ray(started_here)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
