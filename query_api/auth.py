"""Who is asking: roles ``anonymous`` < ``read`` < ``admin``, from bearer tokens or Django users.

Tokens come from ``OTEL_PERF_API_TOKENS`` (``token:admin,token2:read``), parsed once when the
service is built. A presented token is compared with every configured token using
``hmac.compare_digest`` and without stopping at the first match, so neither the content nor the
position of a token leaks through timing. A token is never logged: principals carry the role and
a short hash prefix instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from collections.abc import Mapping

_logger = logging.getLogger("otel_perf")

ANONYMOUS, READ, ADMIN = "anonymous", "read", "admin"
RANK = {ANONYMOUS: 0, READ: 1, ADMIN: 2}
TOKEN_ROLES = (READ, ADMIN)


@dataclasses.dataclass(frozen=True)
class Principal:
    role: str  # what it may see: anonymous | read | admin
    identity: str  # for logs and rate limits: "ip:…", "user:…", "token:admin:ab12cd34"
    authenticated: bool = False
    bad_token: bool = False  # presented a bearer token that matched none

    def at_least(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


def anonymous(client_ip: str | None, bad_token: bool = False) -> Principal:
    return Principal(ANONYMOUS, f"ip:{client_ip or 'unknown'}", bad_token=bad_token)


def token_fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:8]


@dataclasses.dataclass(frozen=True)
class TokenTable:
    entries: tuple[tuple[bytes, str], ...]  # (token, role)

    @classmethod
    def parse(cls, raw: str) -> TokenTable:
        entries: list[tuple[bytes, str]] = []
        bad: list[str] = []
        for position, item in enumerate(raw.split(","), start=1):
            item = item.strip()
            if not item:
                continue
            # rpartition: a token may itself contain ":"; the role is what follows the last.
            token, sep, role = item.rpartition(":")
            role = role.strip().lower()
            if not sep or not token.strip() or role not in TOKEN_ROLES:
                bad.append(f"entry {position}")  # the position only: never echo a secret
                continue
            entries.append((token.strip().encode(), role))
        if bad:
            _logger.warning(
                "otel-perf: OTEL_PERF_API_TOKENS has %d unusable entr%s (%s); each must be "
                "token:read or token:admin; those entries are ignored",
                len(bad),
                "y" if len(bad) == 1 else "ies",
                ", ".join(bad),
            )
        return cls(tuple(entries))

    def role_of(self, token: str) -> str | None:
        presented = token.encode()
        found: str | None = None
        for candidate, role in self.entries:
            if hmac.compare_digest(candidate, presented) and found is None:
                found = role
        return found


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header (headers keyed in lower case)."""
    value = headers.get("authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def from_headers(
    headers: Mapping[str, str], tokens: TokenTable, client_ip: str | None
) -> Principal:
    """The standalone service's principal: a valid bearer token, else anonymous."""
    token = bearer_token(headers)
    if token is None:
        return anonymous(client_ip)
    role = tokens.role_of(token)
    if role is None:
        return anonymous(client_ip, bad_token=True)
    return Principal(role, f"token:{role}:{token_fingerprint(token)}", authenticated=True)


def stronger(a: Principal, b: Principal) -> Principal:
    """Of a session user and a bearer token, the one with more rights (the user on a tie)."""
    if RANK[b.role] > RANK[a.role] or (not a.authenticated and b.authenticated):
        return b
    return a
