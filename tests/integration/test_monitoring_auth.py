"""The monitoring API with auth on: reading needs a role somewhere, writing the editor role;
the server records the authenticated user and its own clock for monitors and silences, audits
every monitor, silence and reference change; refused requests change nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from modelyard.core.auth import AuditQuery
from modelyard.core.errors import PermissionDenied
from modelyard.core.monitoring import MonitorSpec, Silence, WindowSpec
from tests.fixtures.stores import http_store
from tests.integration.test_deployments_auth import Secured, secured  # noqa: F401 - the fixture

SPEC = MonitorSpec(window=WindowSpec(size=60_000))
HOOK = "https://hooks.example.org/secret-token"
WITH_HOOK = MonitorSpec.model_validate({
    "window": {"size": 60_000},
    "rules": [{"name": "errors", "signal": "health.error_rate", "threshold": 0.1,
               "notifiers": [{"type": "webhook", "url": HOOK},
                             {"type": "slack", "url": "${SLACK_WEBHOOK_URL}", "channel": "#ml"}]}],
})  # fmt: skip


@pytest.fixture
def ed(secured: Secured) -> Iterator[object]:  # noqa: F811 - the imported fixture
    joined = http_store(secured.url, token=secured.tokens["ed"])
    with joined:
        yield joined.stores.monitoring


def test_roles_decide_who_reads_and_writes_monitoring(secured: Secured, ed: object) -> None:  # noqa: F811
    created = ed.create_monitor("mon", "api", WITH_HOOK, actor="mallory", at=5)  # type: ignore[attr-defined]
    assert created.created_by == "ed" and created.created_at != 5  # the server's user and clock
    silence = Silence(id="s1", matchers={"monitor": "mon"}, start=0, end=2**40, created_by="mallory", created_at=5)
    assert ed.create_silence(silence).created_by == "ed"  # type: ignore[attr-defined]
    vera = http_store(secured.url, token=secured.tokens["vera"])
    with vera:
        assert [m.name for m in vera.stores.monitoring.list_monitors()] == ["mon"]
        # a viewer sees which notifiers there are, not their secrets; an editor (an evaluator) does
        (notifier, slack) = vera.stores.monitoring.get_monitor("mon").spec.rules[0].notifiers
        assert notifier["type"] == "webhook" and HOOK not in str(notifier)
        # a reference to an environment variable is no secret: shown; the rest of the slack config is not
        assert slack == {"type": "slack", "url": "${SLACK_WEBHOOK_URL}", "channel": "<hidden: needs the editor role>"}
        assert ed.get_monitor("mon").spec.rules[0].notifiers[0]["url"] == HOOK  # type: ignore[attr-defined]
        with pytest.raises(PermissionDenied):  # a viewer reads, never writes
            vera.stores.monitoring.create_monitor("other", "api", SPEC, actor="vera", at=5)
        with pytest.raises(PermissionDenied):
            vera.stores.monitoring.claim_window("mon", 0, 60_000, owner="vera", at=1, lease_ms=1000)
    nora = http_store(secured.url, token=secured.tokens["nora"])
    with nora, pytest.raises(PermissionDenied):  # no role anywhere: not even reading
        nora.stores.monitoring.list_monitors()
    assert httpx.get(f"{secured.url}/api/v1/monitors").status_code == 401
    assert httpx.delete(f"{secured.url}/api/v1/monitors/mon").status_code == 401
    server = secured.app.state.services.stores
    assert [m.name for m in server.monitoring.list_monitors()] == ["mon"]  # refused changed nothing
    actions = [e.action for e in server.auth.list_audit(AuditQuery(object_type="monitor"))]
    assert actions == ["create_monitor"]
    assert [e.action for e in server.auth.list_audit(AuditQuery(object_type="silence"))] == ["create_silence"]
