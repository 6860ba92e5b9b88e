"""API keys: `API__KEYS="key_id:secret,..."`; prediction routes then need `X-API-Key`.

Presented keys are compared with every configured secret in constant time, without an
early exit, so response timing tells nothing about how close a guess was. Only the key
id ever reaches logs and metrics.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr

API_KEY_HEADER = "X-API-Key"
ANONYMOUS = "anonymous"
# The audit log's caller for requests refused before a key was accepted.
UNAUTHENTICATED = "unauthenticated"


class ApiKeyAuthenticator:
    def __init__(self, keys: dict[str, SecretStr]) -> None:
        self._keys = [
            (key_id, secret.get_secret_value().encode()) for key_id, secret in keys.items()
        ]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def identify(self, presented: str | None) -> str | None:
        """The id of the key presented, or None when it matches none."""
        if not self.enabled:
            return ANONYMOUS
        if presented is None:
            return None
        candidate = presented.encode()
        matched: str | None = None
        for key_id, secret in self._keys:
            if hmac.compare_digest(candidate, secret):
                matched = key_id
        return matched
