"""Webhook signature checks shared by the connectors (one HMAC-SHA256 implementation)."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr

from connectors.base import WebhookRejected


def verify_hmac_sha256(
    header: str | None,
    secret: SecretStr,
    body: bytes,
    *,
    name: str,
    scheme: str | None = "sha256",
    missing_hint: str = "unsigned delivery",
) -> None:
    """Raise WebhookRejected unless `header` is the hex HMAC-SHA256 of the raw `body`
    keyed with `secret` (its UTF-8 bytes).

    `scheme="sha256"` expects `sha256=<hex>` (GitHub `X-Hub-Signature-256`, Jira
    `X-Hub-Signature`); `scheme=None` a bare hex digest (Linear `Linear-Signature`).
    """
    if not header:
        raise WebhookRejected(f"missing {name} header ({missing_hint})", status=401)
    given = header.strip()
    if scheme is not None:
        prefix, _, given = given.partition("=")
        if prefix.lower() != scheme or not given:
            raise WebhookRejected(f"{name} is not of the form {scheme}=<hex>", status=401)
    expected = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    # compare_digest: the time taken must not tell a forger how many characters matched.
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise WebhookRejected(f"{name} does not match the body (wrong secret or forged)")
