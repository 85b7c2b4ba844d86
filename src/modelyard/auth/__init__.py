"""Authentication, project roles and the hash-chained audit trail (off by default: the embedded,
single-user profile needs none of it; the server turns it on with ``--auth``)."""

from modelyard.auth.audit import AuditLog, parse_head
from modelyard.auth.service import AuthService, LoginSession, validate_role, validate_username

__all__ = [
    "AuditLog",
    "AuthService",
    "LoginSession",
    "parse_head",
    "validate_role",
    "validate_username",
]
