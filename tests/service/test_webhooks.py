"""`parse_webhook` of the GitHub and Jira connectors: signatures, ids, keys, rejections."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from pydantic import SecretStr

from connectors import webhooks
from connectors.base import WebhookEvent, WebhookRejected
from connectors.registry import build

# API-NOTES §5: GitHub's documented test vector.
VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github(secret: str | None = VECTOR_SECRET, repo: str = "acme/reliability"):
    section = {"kind": "github", "url": "http://127.0.0.1:9", "repo": repo, "token": "t0ken"}
    if secret is not None:
        section["webhook_secret"] = secret
    return build("github", section)


def jira(secret: str | None = "jira-secret"):
    section = {"kind": "jira", "url": "http://127.0.0.1:9", "project": "OPS", "token": "t0ken"}
    if secret is not None:
        section["webhook_secret"] = secret
    return build("jira", section)


def issues_body(action: str = "closed", number: int = 12, repo: str = "acme/reliability") -> bytes:
    return json.dumps(
        {
            "action": action,
            "issue": {"number": number, "state": "closed"},
            "repository": {"full_name": repo},
            "sender": {"login": "alice"},
        }
    ).encode()


def gh_headers(body: bytes, event: str = "issues", secret: str = VECTOR_SECRET, **extra: str):
    return {
        "x-github-event": event,
        "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "x-hub-signature-256": sign(secret, body),
        **extra,
    }


def jira_body(event: str = "jira:issue_updated", key: str = "OPS-7") -> bytes:
    return json.dumps(
        {
            "timestamp": 1718000000000,
            "webhookEvent": event,
            "issue_event_type_name": "issue_generic",
            "issue": {"id": "10007", "key": key, "fields": {"status": {"name": "Done"}}},
            "changelog": {
                "items": [{"field": "status", "fromString": "To Do", "toString": "Done"}]
            },
        }
    ).encode()


# ----------------------------------------------------------------------------- GitHub


def test_github_docs_test_vector():
    assert sign(VECTOR_SECRET, VECTOR_BODY) == VECTOR_SIGNATURE
    webhooks.verify_hmac_sha256(
        VECTOR_SIGNATURE, SecretStr(VECTOR_SECRET), VECTOR_BODY, name="X-Hub-Signature-256"
    )
    with pytest.raises(WebhookRejected) as info:
        webhooks.verify_hmac_sha256(
            VECTOR_SIGNATURE, SecretStr("another secret"), VECTOR_BODY, name="X-Hub-Signature-256"
        )
    assert info.value.status == 401


def test_github_vector_through_parse_webhook_passes_the_signature_then_fails_json():
    # The signature is right, so the next check (JSON) is what refuses it: 400, not 401.
    headers = {"x-github-event": "ping", "x-hub-signature-256": VECTOR_SIGNATURE}
    with pytest.raises(WebhookRejected) as info:
        github().parse_webhook(headers, VECTOR_BODY)
    assert info.value.status == 400


def test_github_issues_event_names_the_issue_key():
    body = issues_body("closed", 12)
    event = github().parse_webhook(gh_headers(body), body)
    assert event == WebhookEvent(
        "72d3162e-cc78-11e3-81ab-4c9367dc0958", frozenset({"acme/reliability#12"}), "issues.closed"
    )


@pytest.mark.parametrize("action", ["reopened", "edited", "assigned", "unassigned", "labeled"])
def test_github_every_issues_action_names_the_key(action):
    body = issues_body(action, 3)
    event = github().parse_webhook(gh_headers(body), body)
    assert event.keys == {"acme/reliability#3"} and event.kind == f"issues.{action}"


def test_github_repo_name_is_case_insensitive_and_key_canonical():
    body = issues_body(repo="Acme/Reliability")
    event = github().parse_webhook(gh_headers(body), body)
    assert event.keys == {"acme/reliability#12"}


def test_github_other_repository_names_nothing():
    body = issues_body(repo="acme/other")
    assert github().parse_webhook(gh_headers(body), body).keys == frozenset()


@pytest.mark.parametrize("event", ["ping", "push", "issue_comment", "pull_request"])
def test_github_other_events_verify_but_name_nothing(event):
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    parsed = github().parse_webhook(gh_headers(body, event=event), body)
    assert parsed.keys == frozenset() and parsed.kind == event


def test_github_requires_a_configured_secret():
    body = issues_body()
    with pytest.raises(WebhookRejected, match="no webhook_secret is configured") as info:
        github(secret=None).parse_webhook(gh_headers(body), body)
    assert info.value.status == 401


@pytest.mark.parametrize(
    "signature",
    [
        None,  # unsigned
        "",
        "sha256=",
        "sha1=" + "0" * 40,  # the legacy header's scheme is not accepted here
        "sha256=" + "0" * 64,  # forged
        sign("wrong secret", issues_body()),
        "sha256=zz",
    ],
)
def test_github_bad_signatures_are_401(signature):
    body = issues_body()
    headers = gh_headers(body)
    if signature is None:
        del headers["x-hub-signature-256"]
    else:
        headers["x-hub-signature-256"] = signature
    with pytest.raises(WebhookRejected) as info:
        github().parse_webhook(headers, body)
    assert info.value.status == 401


def test_github_signature_covers_the_raw_bytes():
    body = issues_body()
    headers = gh_headers(body)
    reformatted = json.dumps(json.loads(body), indent=2).encode()  # same JSON, other bytes
    with pytest.raises(WebhookRejected):
        github().parse_webhook(headers, reformatted)


def test_github_uppercase_hex_is_accepted():
    body = issues_body()
    headers = gh_headers(body)
    headers["x-hub-signature-256"] = "sha256=" + headers["x-hub-signature-256"][7:].upper()
    assert github().parse_webhook(headers, body).keys == {"acme/reliability#12"}


def test_github_signature_compared_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhooks.hmac, "compare_digest", spy)  # the one shared check
    body = issues_body()
    github().parse_webhook(gh_headers(body), body)
    assert len(calls) == 1


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_github_malformed_body_is_400(body):
    with pytest.raises(WebhookRejected) as info:
        github().parse_webhook(gh_headers(body), body)
    assert info.value.status == 400


def test_github_missing_event_header_is_400():
    body = issues_body()
    headers = gh_headers(body)
    del headers["x-github-event"]
    with pytest.raises(WebhookRejected) as info:
        github().parse_webhook(headers, body)
    assert info.value.status == 400


@pytest.mark.parametrize("number", [0, -1, "12", True, None])
def test_github_odd_issue_numbers_name_nothing(number):
    body = json.dumps(
        {
            "action": "closed",
            "issue": {"number": number},
            "repository": {"full_name": "acme/reliability"},
        }
    ).encode()
    assert github().parse_webhook(gh_headers(body), body).keys == frozenset()


def test_github_missing_delivery_id_is_none():
    body = issues_body()
    headers = gh_headers(body)
    del headers["x-github-delivery"]
    assert github().parse_webhook(headers, body).delivery_id is None


def test_github_rejection_messages_do_not_echo_the_secret():
    body = issues_body()
    for headers in ({}, {"x-hub-signature-256": "sha256=00"}):
        with pytest.raises(WebhookRejected) as info:
            github().parse_webhook({"x-github-event": "issues", **headers}, body)
        assert VECTOR_SECRET not in str(info.value)


# ----------------------------------------------------------------------------- Jira


def test_jira_signed_issue_updated_names_the_key():
    body = jira_body()
    headers = {
        "x-hub-signature": sign("jira-secret", body),
        "x-atlassian-webhook-identifier": "b4a4d1c2-jira-delivery",
    }
    event = jira().parse_webhook(headers, body)
    assert event == WebhookEvent(
        "b4a4d1c2-jira-delivery", frozenset({"OPS-7"}), "jira:issue_updated"
    )


def test_jira_issue_created_names_the_key_and_normalises_it():
    body = jira_body("jira:issue_created", "ops-0042")
    event = jira().parse_webhook({"x-hub-signature": sign("jira-secret", body)}, body)
    assert event.keys == {"OPS-42"} and event.delivery_id is None


@pytest.mark.parametrize(
    "event", ["jira:issue_deleted", "comment_created", "jira:worklog_updated", ""]
)
def test_jira_other_events_name_nothing(event):
    body = jira_body(event)
    parsed = jira().parse_webhook({"x-hub-signature": sign("jira-secret", body)}, body)
    assert parsed.keys == frozenset()


def test_jira_other_project_names_nothing():
    body = jira_body(key="SEC-7")
    assert (
        jira().parse_webhook({"x-hub-signature": sign("jira-secret", body)}, body).keys
        == frozenset()
    )


@pytest.mark.parametrize(
    "signature", [None, "sha256=" + "0" * 64, sign("wrong", jira_body()), "sha1=abc", "garbage"]
)
def test_jira_with_secret_refuses_unsigned_and_forged(signature):
    body = jira_body()
    headers = {} if signature is None else {"x-hub-signature": signature}
    with pytest.raises(WebhookRejected) as info:
        jira().parse_webhook(headers, body)
    assert info.value.status == 401


def test_jira_without_secret_accepts_unsigned_deliveries():
    body = jira_body()
    event = jira(secret=None).parse_webhook({"x-atlassian-webhook-identifier": "d1"}, body)
    assert event.keys == {"OPS-7"} and event.delivery_id == "d1"


def test_jira_signature_compared_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(webhooks.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    body = jira_body()
    jira().parse_webhook({"x-hub-signature": sign("jira-secret", body)}, body)
    assert calls == [1]


@pytest.mark.parametrize("body", [b"{not json", b"\xff", b"[]", b"null"])
def test_jira_malformed_body_is_400(body):
    with pytest.raises(WebhookRejected) as info:
        jira(secret=None).parse_webhook({}, body)
    assert info.value.status == 400


def test_jira_signature_checked_before_parsing():
    # A forged body is refused as forged (401), never parsed (400 would leak that).
    with pytest.raises(WebhookRejected) as info:
        jira().parse_webhook({"x-hub-signature": "sha256=" + "0" * 64}, b"{not json")
    assert info.value.status == 401


@pytest.mark.parametrize("key", [None, 7, "", "OPS", "OPS-", "../OPS-1", "OPS-1 OR 1=1"])
def test_jira_odd_keys_name_nothing(key):
    body = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": key}}).encode()
    assert jira(secret=None).parse_webhook({}, body).keys == frozenset()
