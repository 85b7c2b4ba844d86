"""The registry's typed errors, in a module of their own so the SDK face can export them without
importing numpy and pandas. Each is a subclass of a core error, so edges map them as usual."""

from __future__ import annotations

from modelyard.core.errors import InvalidArgument, PermissionDenied


class SignatureError(InvalidArgument):
    """Input that does not match the model's signature; ``column`` and ``expected`` say what is wrong."""

    def __init__(self, message: str, *, column: str | None = None, expected: str | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.expected = expected


class IllegalTransition(InvalidArgument):
    """A lifecycle move the state machine does not allow."""


class ApprovalRequired(PermissionDenied):
    """Production needs more approvals from maintainers than the version has."""
