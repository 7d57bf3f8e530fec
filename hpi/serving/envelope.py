"""PaddleX serving's response envelope: `{"logId", "errorCode", "errorMsg", "result"}`.

Success: errorCode 0, errorMsg "Success", and the result. Failure: errorCode is the HTTP status, errorMsg says
what went wrong, and there is no "result" (PaddleX's AIStudioResultResponse / AIStudioNoResultResponse).
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Dict, Optional


class ServingError(Exception):
    """A request that ends with HTTP `status` and `message` as errorMsg."""

    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def new_log_id() -> str:
    return str(uuid.uuid4())


MAX_LOG_ID_CHARS = 128


def client_log_id(value: Optional[str]) -> Optional[str]:
    """A client's logId as the server echoes and logs it: control characters escaped (a CR/LF in it wrote forged
    lines into the server's log), at most MAX_LOG_ID_CHARS characters; None for none."""
    if not value:
        return None
    if not value.isprintable():
        value = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in value)
    return value[:MAX_LOG_ID_CHARS]


def success(log_id: str, result: Any, message: str = "Success") -> Dict[str, Any]:
    body = {"logId": log_id, "errorCode": 0, "errorMsg": message}
    if result is not None:
        body["result"] = result
    return body


def failure(log_id: str, status: int, message: str) -> Dict[str, Any]:
    return {"logId": log_id, "errorCode": status, "errorMsg": message}


def encode(body: Dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def log_id_of(raw_body: Optional[bytes]) -> Optional[str]:
    """The request's own logId, if its body is a JSON object holding a string one (for error responses)."""
    if not raw_body:
        return None
    try:
        parsed = json.loads(raw_body)
    except ValueError:
        return None
    log_id = parsed.get("logId") if isinstance(parsed, dict) else None
    return client_log_id(log_id) if isinstance(log_id, str) else None
