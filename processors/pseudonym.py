"""User pseudonyms: a keyed hash, so raw ids and e-mail addresses never reach a span or the store.

The key is shared by every worker and host (Django's SECRET_KEY by default) so that one user
has one pseudonym everywhere; without the key the pseudonym cannot be reversed by guessing ids.
"""

from __future__ import annotations

import hashlib
import hmac


def derive_key(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, b"otel-perf user pseudonym v1", hashlib.sha256).digest()


def pseudonymize(key: bytes, user_id: object) -> str:
    digest = hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()
    return "u_" + digest[:16]
