"""Alerts of the drift job: a Slack-compatible message posted to a webhook.

Slack's incoming webhooks, Mattermost, Rocket.Chat and Microsoft Teams' Slack-compatible
connectors all accept `{"text": ...}`; Slack also renders the `blocks`.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from src.errors import ConfigError, ProjectError

RUNBOOKS_DIR = "docs/runbooks"


@dataclass(frozen=True)
class Alert:
    title: str
    problems: list[str]
    details: list[str] = field(default_factory=list)
    runbooks: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"*{self.title}*", *(f"- {problem}" for problem in self.problems)]
        lines += self.details
        if self.runbooks:
            lines.append("Runbooks: " + ", ".join(self.runbooks))
        return "\n".join(lines)


def runbook(name: str) -> str:
    return f"{RUNBOOKS_DIR}/{name}.md"


def slack_payload(alert: Alert) -> dict[str, Any]:
    """The webhook body: plain `text` for every receiver, `blocks` for Slack's layout."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "\n".join(f"• {p}" for p in alert.problems)},
        },
    ]
    if alert.details or alert.runbooks:
        context = [*alert.details]
        if alert.runbooks:
            context.append("Runbooks: " + ", ".join(f"`{path}`" for path in alert.runbooks))
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in context]}
        )
    return {"text": alert.text(), "blocks": blocks}


def check_webhook_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"ALERT_WEBHOOK_URL must be an http(s) URL, not {parts.scheme!r}")


def post_alert(alert: Alert, url: str, timeout: float) -> None:
    """POST the alert; a refused or failed delivery is an error, never silently dropped."""
    check_webhook_url(url)
    body = json.dumps(slack_payload(alert)).encode()
    request = urllib.request.Request(  # noqa: S310  # scheme checked above
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    # The URL is a secret: messages name its host only.
    host = urlsplit(url).netloc
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            status = response.status
    except HTTPError as error:
        raise ProjectError(f"the alert webhook at {host} answered {error.code}") from error
    except (URLError, OSError) as error:
        raise ProjectError(f"could not post the alert to the webhook at {host}: {error}") from error
    if not 200 <= status < 300:
        raise ProjectError(f"the alert webhook at {host} answered {status}")
