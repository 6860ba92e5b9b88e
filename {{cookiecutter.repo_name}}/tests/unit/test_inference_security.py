"""API keys from settings, their constant-time check, and the audit log's lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from src.inference.audit import AuditLog, append_audit_event
from src.inference.security import ANONYMOUS, ApiKeyAuthenticator
from src.settings import ApiSettings, parse_api_keys


def test_keys_parse_into_ids_and_secrets() -> None:
    keys = parse_api_keys(" ci:abc , batch:d:e ")
    assert {key: secret.get_secret_value() for key, secret in keys.items()} == {
        "ci": "abc",
        "batch": "d:e",
    }


@pytest.mark.parametrize(
    ("value", "problem"),
    [("nocolon", "entry 1"), ("a:1,:2", "entry 2"), ("a:1,a:2", "repeats the key id 'a'")],
)
def test_bad_keys_are_named_without_the_secret(value: str, problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ApiSettings(keys=SecretStr(value))
    assert problem in str(raised.value)
    assert "nocolon" not in str(raised.value).replace("input_value=SecretStr", "")


def test_without_keys_everyone_is_anonymous() -> None:
    assert ApiKeyAuthenticator({}).identify(None) == ANONYMOUS


def test_only_a_configured_secret_identifies_its_key() -> None:
    authenticator = ApiKeyAuthenticator(parse_api_keys("ci:abc,job:xyz"))
    assert authenticator.identify("xyz") == "job"
    assert authenticator.identify("abc") == "ci"
    for guess in (None, "", "ab", "abcd", "ci", "ABC"):
        assert authenticator.identify(guess) is None


def test_audit_lines_are_json_and_complete_after_close(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    audit = AuditLog(str(path))
    audit.start()
    for index in range(500):
        audit.record_event("prediction", request_id=str(index), status=200)
    audit.close()
    append_audit_event(str(path), "promotion", model_version="2")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["request_id"] for r in records[:500]] == [str(i) for i in range(500)]
    assert records[-1]["event"] == "promotion"
    assert all("time" in record for record in records)
