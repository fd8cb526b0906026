"""The error-tracker scrubber: every string of an event, frame locals included, is redacted."""

from __future__ import annotations

import sys
from typing import Any

from sekret import SecretValue
from sekret.integrations.redaction import Redactor
from sekret.integrations.sentry import before_send, make_before_send, scrub
from sekret.testing import sentinel_value


def _event(value: str, password: str) -> dict[str, Any]:
    """An event shaped like the one sentry_sdk hands to before_send."""
    return {
        "message": f"failed with {value}",
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": f"bad token {value}",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "connect",
                                "vars": {
                                    "token": f"'{value}'",
                                    "creds": {"password": password, "user": "app"},
                                    "args": [f"x{value}x", 3, None],
                                },
                            }
                        ]
                    },
                }
            ]
        },
        "breadcrumbs": {"values": [{"message": f"GET /?key={value}", "level": "info"}]},
        "extra": {value: "key is the value", "tuple": (value, 1)},
        "tags": {"ok": "fine"},
    }


def _strings(node: Any) -> str:
    return repr(node)


def test_before_send_redacts_every_string_including_frame_locals() -> None:
    """before_send hides held values in messages, frame vars, breadcrumbs, extras and keys."""
    from sekret.integrations.redaction import default_redactor

    value, password = sentinel_value("sentry"), sentinel_value("pw")
    redactor = default_redactor()
    redactor.register([value, SecretValue.of({"username": "app", "password": password})])
    try:
        event = before_send(_event(value, password), {"exc_info": sys.exc_info()})
    finally:
        redactor.clear()
    text = _strings(event)
    assert value not in text
    assert password not in text
    frame_vars = event["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]
    assert frame_vars["token"] == "'***'"
    assert frame_vars["creds"] == {"password": "***", "user": "app"}
    assert frame_vars["args"] == ["x***x", 3, None]
    assert event["extra"]["***"] == "key is the value"
    assert event["tags"] == {"ok": "fine"}


def test_make_before_send_chains_the_users_hook() -> None:
    """make_before_send scrubs with its own Redactor, then calls the next hook."""
    value = sentinel_value("chain")
    seen: list[Any] = []

    def mine(event: Any, hint: Any) -> Any:
        seen.append(event)
        return None  # the user's hook may still drop the event

    hook = make_before_send(Redactor([value]), then=mine)
    assert hook({"message": value, "raw": value.encode()}, None) is None
    assert seen == [{"message": "***", "raw": b"***"}]


def test_scrub_leaves_a_payload_without_values_alone() -> None:
    """With nothing to hide, scrub returns the payload unchanged."""
    payload = {"message": "nothing here", "n": [1, 2]}
    assert scrub(payload, Redactor()) == {"message": "nothing here", "n": [1, 2]}
