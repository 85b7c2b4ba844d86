"""Every typed error crosses HTTP as the type it was raised as: one table of codes, subclasses
included, generated checks so that a new error class is covered the day it is added."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import modelyard
from modelyard.core import errors
from modelyard.core.errors import ModelyardError
from modelyard.server.errors import STATUS_BY_ERROR, install_error_handlers, status_for
from modelyard.wire.errors import ERROR_BY_CODE, ERRORS, error_from_body

SRC = Path(modelyard.__file__).parent
#: Status of each core kind; every other error takes its base's.
KIND_STATUS = {
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.Conflict: 409,
    errors.InvalidArgument: 400,
    errors.PermissionDenied: 403,
    errors.StoreUnavailable: 503,
    errors.IntegrityError: 500,
}


def _subclasses(cls: type[ModelyardError]) -> list[type[ModelyardError]]:
    found: list[type[ModelyardError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


ALL_ERRORS = sorted(set(_subclasses(ModelyardError)), key=lambda c: c.__name__)


def test_every_error_class_lives_in_core_errors() -> None:
    """An error class defined elsewhere would be unknown to the wire table (which imports only core)."""
    names = {cls.__name__ for cls in [ModelyardError, *ALL_ERRORS]}
    elsewhere = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "core" / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if bases & names:
                    elsewhere.append(f"{path.relative_to(SRC)}: {node.name}")
    assert elsewhere == []


def test_the_table_names_every_error_once() -> None:
    assert set(ERRORS) == set(ALL_ERRORS)
    codes = [cls.code for cls in ALL_ERRORS]
    assert len(codes) == len(set(codes)), f"shared codes: {sorted(c for c in codes if codes.count(c) > 1)}"
    assert all(ERROR_BY_CODE[cls.code] is cls for cls in ALL_ERRORS)


def _sample(cls: type[ModelyardError]) -> ModelyardError:
    numbers = {"position": 7, "retry_after_seconds": 30, "retry_after": 1.5}
    values: dict[str, Any] = {name: numbers.get(name, f"{name}-value") for name in cls.wire_attributes}
    return cls.from_wire(f"{cls.__name__} was raised", values)


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    by_name = {cls.__name__: cls for cls in ALL_ERRORS}

    @app.get("/raise/{name}")
    def raise_error(name: str) -> None:
        raise _sample(by_name[name])

    return TestClient(app)


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_an_error_arrives_as_the_type_it_was_raised_as(client: TestClient, cls: type[ModelyardError]) -> None:
    raised = _sample(cls)
    response = client.get(f"/raise/{cls.__name__}")
    assert response.status_code == status_for(raised)
    own = {kind for kind, _ in STATUS_BY_ERROR} - set(KIND_STATUS)  # the few with a status of their own
    kinds = [kind for kind in cls.__mro__ if kind in KIND_STATUS]
    if kinds and cls not in own:
        assert response.status_code == KIND_STATUS[kinds[0]]  # the status is the core kind's
    received = error_from_body(response.status_code, response.json())
    assert type(received) is cls
    assert str(received) == str(raised)
    assert received.wire_details() == raised.wire_details()


def test_errors_keep_their_attributes_through_a_constructor() -> None:
    """Real instances, built as the code raises them (not through ``from_wire``)."""
    app = FastAPI()
    install_error_handlers(app)
    raised: list[ModelyardError] = [
        errors.FilterSyntaxError("expected a value", "metrics.m >", 11),
        errors.SignatureError("column 'age' is missing", column="age", expected="int64"),
        errors.LoginThrottled(2500),
        errors.MissingExtra("pip install 'modelyard[onnx]'", "onnx"),
        errors.Overloaded("model 'm' is shutting down", 1.0),
    ]

    @app.get("/raise/{index}")
    def raise_error(index: int) -> None:
        raise raised[index]

    client = TestClient(app)
    for index, exc in enumerate(raised):
        response = client.get(f"/raise/{index}")
        received = error_from_body(response.status_code, response.json())
        assert type(received) is type(exc) and str(received) == str(exc)
        assert received.__dict__ == exc.__dict__
