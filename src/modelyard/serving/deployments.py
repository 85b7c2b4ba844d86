"""``DeploymentService``: the rules of deployments — model references resolved to concrete
versions at every change, the traffic split, compare-and-set revisions, rollback, following a
moving alias.

It receives its stores in its constructor (the serving store and the registry service); the SDK,
the CLI and the server's routes build one, so there is one copy of the rules.

Rollback restores an earlier revision's spec as a new revision (history is never rewritten). With
no target it undoes the last change: the revision before the current one, or, when the current
one is itself a rollback, the revision before the one it restored, so rolling back twice walks
further back instead of toggling. The restored variants are *pinned* to the versions they served
then (their selector becomes the version number): a deployment that followed ``churn@champion``
and is rolled back because the alias moved to a bad version must not follow the alias straight
back. ``deploy update`` with the alias makes it follow again.

Variants given by a moving selector (an alias, ``production``, ``latest``) follow it: ``refresh``
re-resolves them and, when one moved, records a "refresh" revision (actor ``system:alias``), which
is what a serving process polling the store reacts to by loading the new version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelyard.core.errors import Conflict, InvalidArgument, NotFound, NothingToRollBack, RevisionConflict
from modelyard.core.registry import ModelState
from modelyard.core.serving import (
    Deployment,
    DeploymentEvent,
    DeploymentSpec,
    Slo,
    VariantSpec,
    validate_deployment_name,
    validate_variant_name,
)
from modelyard.core.tracking import now_millis
from modelyard.core.validation import validate_name
from modelyard.registry.service import RegistryService
from modelyard.registry.uri import parse_model_ref
from modelyard.store.serving import ServingStore

__all__ = ["ALIAS_ACTOR", "SLO_ACTOR", "DeploymentService", "VariantRequest", "parse_variant"]

#: The actor of the revisions the system makes by itself.
ALIAS_ACTOR = "system:alias"
SLO_ACTOR = "system:slo"
_VARIANT_RE = re.compile(r"^(?:(?P<name>[A-Za-z0-9_.\-]+)=)?(?P<ref>[^=]+?)(?::(?P<traffic>\d{1,3}))?$")
_UNSET: Any = object()


@dataclass(frozen=True)
class VariantRequest:
    """A variant as a user asks for it: a model reference (``churn@3``, ``churn@champion``), a
    share of the traffic in percent, and whether it is a shadow."""

    name: str
    reference: str
    traffic: int = 0
    shadow: bool = False


def parse_variant(text: str, *, shadow: bool = False, default_name: str | None = None) -> VariantRequest:
    """``[NAME=]MODEL@SELECTOR[:PERCENT]`` as the CLI takes it (``blue=churn@3:90``). Without a
    percent a variant takes 100 (or 0 for a shadow); without a name it is ``default_name``."""
    match = _VARIANT_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None or "@" not in match.group("ref"):
        raise InvalidArgument(
            f"invalid variant {text!r}: expected [NAME=]MODEL@VERSION|ALIAS[:PERCENT], e.g. blue=churn@3:90"
        )
    name = match.group("name") or default_name
    if name is None:
        raise InvalidArgument(f"variant {text!r} needs a name (NAME=MODEL@SELECTOR) when there are several")
    traffic_text = match.group("traffic")
    traffic = int(traffic_text) if traffic_text is not None else (0 if shadow else 100)
    if traffic > 100:
        raise InvalidArgument(f"invalid traffic {traffic}% in variant {text!r}: 0-100")
    return VariantRequest(validate_variant_name(name), match.group("ref"), traffic, shadow)


def _variant_request(item: VariantRequest | Mapping[str, Any] | str, index: int, count: int) -> VariantRequest:
    if isinstance(item, VariantRequest):
        return item
    if isinstance(item, str):
        return parse_variant(item, default_name="main" if count == 1 else None)
    if isinstance(item, Mapping):
        known = {"name", "model", "reference", "traffic", "shadow"}
        extra = set(item) - known
        if extra:
            raise InvalidArgument(f"unknown variant field(s) {sorted(extra)}; expected {sorted(known)}")
        reference = item.get("reference") or item.get("model")
        if not isinstance(reference, str):
            raise InvalidArgument("a variant needs a model reference, e.g. {'model': 'churn@3'}")
        shadow = bool(item.get("shadow", False))
        traffic = item.get("traffic", 0 if shadow else (100 if count == 1 else None))
        if traffic is None or isinstance(traffic, bool) or not isinstance(traffic, int):
            raise InvalidArgument(f"variant {reference!r} needs an integer traffic percent")
        name = item.get("name") or ("main" if count == 1 else None)
        if name is None:
            raise InvalidArgument(f"variant {reference!r} needs a name when there are several")
        return VariantRequest(validate_variant_name(name), reference, traffic, shadow)
    raise InvalidArgument(f"a variant is 'NAME=MODEL@SELECTOR:PERCENT' or a mapping, got {type(item).__name__}")


def _spec(**fields: Any) -> DeploymentSpec:
    try:
        return DeploymentSpec(**fields)
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        if callable(errors):
            text = "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in errors())
        else:
            text = str(exc)
        raise InvalidArgument(f"invalid deployment: {text}") from None


class DeploymentService:
    """Deployments over a ``ServingStore``; model references resolved through ``registry``."""

    def __init__(
        self, store: ServingStore, registry: RegistryService, *, clock: Callable[[], int] = now_millis
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock

    # -- reads --------------------------------------------------------------------------------
    def get(self, name: str) -> Deployment:
        return self.store.get_deployment(validate_deployment_name(name))

    def list_deployments(self) -> list[Deployment]:
        return self.store.list_deployments()

    def history(self, name: str) -> list[DeploymentEvent]:
        return self.store.list_deployment_events(validate_deployment_name(name))

    # -- the rules ----------------------------------------------------------------------------
    def resolve_variants(self, variants: Iterable[VariantRequest | Mapping[str, Any] | str]) -> tuple[VariantSpec, ...]:
        """Each requested variant with the concrete version its reference names now."""
        items = list(variants)
        requests = [_variant_request(item, i, len(items)) for i, item in enumerate(items)]
        resolved = []
        for request in requests:
            ref = parse_model_ref(request.reference)
            version = self.registry.resolve(ref)
            if version.state is ModelState.DECOMMISSIONED:
                raise InvalidArgument(f"{request.reference} is version {version.version}, which is decommissioned")
            try:
                resolved.append(
                    VariantSpec(
                        name=request.name,
                        model=ref.name,
                        ref=ref.value,
                        version=version.version,
                        traffic=request.traffic,
                        shadow=request.shadow,
                    )
                )
            except ValueError as exc:
                raise InvalidArgument(f"invalid variant {request.name!r}: {exc}") from None
        return tuple(resolved)

    def check_spec(self, spec: DeploymentSpec) -> None:
        """What the server checks of a spec a client resolved: every version exists, is not
        decommissioned, and a numeric selector names that very version."""
        for variant in spec.variants:
            if variant.ref.isdigit() and int(variant.ref) != variant.version:
                raise InvalidArgument(f"variant {variant.name!r}: selector {variant.ref} but version {variant.version}")
            if not variant.ref.isdigit():
                parse_model_ref(variant.reference)  # a valid selector
            found = self.registry.get_version(variant.model, variant.version)
            if found.state is ModelState.DECOMMISSIONED:
                raise InvalidArgument(f"{variant.model} version {variant.version} is decommissioned")

    def create(
        self,
        name: str,
        variants: Sequence[VariantRequest | Mapping[str, Any] | str],
        *,
        actor: str,
        sticky_key: str | None = None,
        slo: Slo | Mapping[str, Any] | None = None,
        auto_rollback: bool = False,
        description: str | None = None,
        reason: str | None = None,
        log_retention_days: int | None = None,
    ) -> Deployment:
        """A new deployment (revision 1) serving ``variants``; its logged predictions are kept
        ``log_retention_days`` days (None: until pruned)."""
        name = validate_deployment_name(name)
        spec = _spec(
            variants=self.resolve_variants(variants),
            sticky_key=sticky_key,
            slo=_slo(slo),
            auto_rollback=auto_rollback,
            description=description,
            log_retention_days=log_retention_days,
        )
        return self.store.create_deployment(name, spec, actor=_actor(actor), at=self.clock(), reason=reason)

    def update(
        self,
        name: str,
        *,
        actor: str,
        variants: Sequence[VariantRequest | Mapping[str, Any] | str] | None = None,
        traffic: Mapping[str, int] | None = None,
        sticky_key: str | None = _UNSET,
        slo: Slo | Mapping[str, Any] | None = _UNSET,
        auto_rollback: bool | None = None,
        description: str | None = _UNSET,
        expected_revision: int | None = None,
        reason: str | None = None,
        log_retention_days: int | None = _UNSET,
    ) -> Deployment:
        """The next revision: ``variants`` replace the variants; ``traffic`` ({variant: percent})
        changes shares of the current ones; other arguments replace what they name. Every model
        reference is resolved again. ``expected_revision`` (default: the one read now) guards
        against a concurrent change (RevisionConflict)."""
        current = self.get(name)
        if expected_revision is not None and expected_revision != current.revision:
            raise RevisionConflict(f"deployment {name!r} is at revision {current.revision}, not {expected_revision}")
        if variants is not None:
            requested: list[Any] = list(variants)
        else:
            requested = [VariantRequest(v.name, v.reference, v.traffic, v.shadow) for v in current.spec.variants]
        if traffic:
            by_name = {r.name: r for r in (_variant_request(x, i, len(requested)) for i, x in enumerate(requested))}
            unknown = sorted(set(traffic) - set(by_name))
            if unknown:
                raise InvalidArgument(f"no variant named {', '.join(unknown)} in deployment {name!r}")
            requested = [
                VariantRequest(r.name, r.reference, int(traffic.get(r.name, r.traffic)), r.shadow)
                for r in by_name.values()
            ]
        old = current.spec
        spec = _spec(
            variants=self.resolve_variants(requested),
            sticky_key=old.sticky_key if sticky_key is _UNSET else sticky_key,
            slo=old.slo if slo is _UNSET else _slo(slo),
            auto_rollback=old.auto_rollback if auto_rollback is None else auto_rollback,
            description=old.description if description is _UNSET else description,
            log_retention_days=old.log_retention_days if log_retention_days is _UNSET else log_retention_days,
        )
        return self.store.update_deployment(
            current.name, spec, expected_revision=current.revision, actor=_actor(actor), at=self.clock(), reason=reason
        )

    def rollback_target(self, name: str, to_revision: int | None = None) -> tuple[Deployment, DeploymentEvent]:
        """The current deployment and the revision a rollback would restore."""
        current = self.get(name)
        events = {e.revision: e for e in self.history(name)}
        if to_revision is not None:
            if not 1 <= to_revision < current.revision:
                raise InvalidArgument(
                    f"revision {to_revision} is not an earlier revision of {name!r} (now {current.revision})"
                )
            target = events.get(to_revision)
            if target is None or target.after is None:
                raise InvalidArgument(f"revision {to_revision} of {name!r} is a deletion; pick another")
            return current, target
        latest = events[current.revision]
        start = (latest.restored_from if latest.action == "rollback" and latest.restored_from else current.revision) - 1
        for revision in range(start, 0, -1):
            event = events.get(revision)
            if event is not None and event.after is not None and event.after != current.spec:
                return current, event
        raise NothingToRollBack(f"deployment {name!r} has no earlier state to roll back to")

    def rollback(
        self,
        name: str,
        *,
        actor: str,
        reason: str | None = None,
        to_revision: int | None = None,
        expected_revision: int | None = None,
    ) -> Deployment:
        """Restore an earlier revision's spec (see the module docstring for which), pinned to
        the versions it served, as a new "rollback" revision."""
        current, target = self.rollback_target(name, to_revision)
        if expected_revision is not None and expected_revision != current.revision:
            raise RevisionConflict(f"deployment {name!r} is at revision {current.revision}, not {expected_revision}")
        assert target.after is not None
        pinned = tuple(v.model_copy(update={"ref": str(v.version)}) for v in target.after.variants)
        # what is served goes back; how long its log is kept is not a serving state and stays
        spec = target.after.model_copy(
            update={"variants": pinned, "log_retention_days": current.spec.log_retention_days}
        )
        return self.store.update_deployment(
            current.name,
            spec,
            expected_revision=current.revision,
            actor=_actor(actor),
            at=self.clock(),
            reason=reason or f"rollback to revision {target.revision}",
            action="rollback",
            restored_from=target.revision,
        )

    def refresh(self, name: str, *, actor: str = ALIAS_ACTOR) -> Deployment | None:
        """Re-resolve the variants that follow an alias or state; record a "refresh" revision
        when one moved (None when nothing moved, or when another process refreshed first)."""
        current = self.get(name)
        moved = []
        variants = []
        for variant in current.spec.variants:
            if variant.follows:
                try:
                    now = self.registry.resolve(variant.reference)
                except NotFound:
                    variants.append(variant)  # the alias was removed: keep serving what we serve
                    continue
                if now.version != variant.version and now.state is not ModelState.DECOMMISSIONED:
                    moved.append(f"{variant.reference} moved to version {now.version}")
                    variant = variant.model_copy(update={"version": now.version})
            variants.append(variant)
        if not moved:
            return None
        spec = current.spec.model_copy(update={"variants": tuple(variants)})
        try:
            return self.store.update_deployment(
                current.name,
                spec,
                expected_revision=current.revision,
                actor=actor,
                at=self.clock(),
                reason="; ".join(moved),
                action="refresh",
            )
        except Conflict:  # another process refreshed (or changed) it first
            return None

    def delete(
        self, name: str, *, actor: str, reason: str | None = None, expected_revision: int | None = None
    ) -> DeploymentEvent:
        return self.store.delete_deployment(
            validate_deployment_name(name),
            expected_revision=expected_revision,
            actor=_actor(actor),
            at=self.clock(),
            reason=reason,
        )


def _slo(slo: Slo | Mapping[str, Any] | None) -> Slo | None:
    if slo is None or isinstance(slo, Slo):
        return slo
    try:
        return Slo(**dict(slo))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"invalid SLO: {exc}") from None


def _actor(actor: str) -> str:
    if actor is None or not str(actor).strip():
        raise InvalidArgument("an actor is required (who is doing this?)")
    return validate_name(str(actor).strip(), "actor")
