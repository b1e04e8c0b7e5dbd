"""A small HTTP client for the local API (the demo and the walkthroughs use it)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class DemoError(Exception):
    """A failure worth one clear line."""


# -- the API, over HTTP --------------------------------------------------------------------------


class ApiClient:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self._base_url + path, data=data, method=method)  # noqa: S310 - loopback http
        request.add_header("Content-Type", "application/json")
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback http
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                return error.code, json.loads(payload or b"null")
            except ValueError:
                return error.code, payload.decode(errors="replace")
        except urllib.error.URLError as error:
            raise DemoError(f"{method} {path}: {error.reason}") from None

    def expect(self, status: int, method: str, path: str, body: Any = None) -> Any:
        got, payload = self.call(method, path, body)
        if got != status:
            raise DemoError(f"{method} {path} answered {got} (expected {status}): {payload}")
        return payload
