"""A small JSON-over-HTTP client for the PR comment and the MR note (standard library only).

Errors carry the status code and the URL path only: response bodies may echo request text and are never shown.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

TIMEOUT_S = 15.0
MAX_PAGES = 20


class ApiError(Exception):
    """A request to the GitHub or GitLab API failed; ``status`` is the HTTP status, 0 when none came back."""

    def __init__(self, status: int, method: str, url: str, reason: str = "") -> None:
        path = urllib.parse.urlsplit(url).path
        super().__init__(f"{method} {path} failed: {f'HTTP {status}' if status else reason}")
        self.status = status


def request(method: str, url: str, headers: Mapping[str, str], body: Mapping[str, Any] | None = None) -> Any:
    """Send one request and return the decoded JSON answer (``None`` for an empty body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={**headers, "User-Agent": "helm-eval"})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as response:
            payload = response.read()
    except urllib.error.HTTPError as error:
        raise ApiError(error.code, method, url) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise ApiError(0, method, url, type(error).__name__) from None
    try:
        return json.loads(payload) if payload else None
    except ValueError:
        raise ApiError(0, method, url, "answer is not JSON") from None


def pages(url: str, headers: Mapping[str, str], per_page: int = 100) -> Iterator[dict[str, Any]]:
    """Items of a paginated list endpoint (``page``/``per_page`` query parameters, GitHub and GitLab alike)."""
    sep = "&" if "?" in url else "?"
    for page in range(1, MAX_PAGES + 1):
        items = request("GET", f"{url}{sep}per_page={per_page}&page={page}", headers)
        if not isinstance(items, list):
            return
        yield from (item for item in items if isinstance(item, dict))
        if len(items) < per_page:
            return


def upsert(
    list_url: str,
    create_url: str,
    item_url: str,
    headers: Mapping[str, str],
    marker: str,
    body: str,
    *,
    edit_method: str,
    prefer: Any = None,
) -> tuple[str, int]:
    """Edit the first item whose ``body`` contains ``marker`` (preferring ``prefer(item)``), else create one.

    ``item_url`` has ``{id}``. Returns ``("updated"|"created", id)``. An item we may not edit (someone else
    copied the marker) is left alone and a new one is created.
    """
    found = [item for item in pages(list_url, headers) if marker in str(item.get("body") or "")]
    if prefer is not None:
        found.sort(key=lambda item: 0 if prefer(item) else 1)
    for item in found[:1]:
        try:
            request(edit_method, item_url.format(id=item["id"]), headers, {"body": body})
            return "updated", int(item["id"])
        except ApiError as error:
            if error.status not in (403, 404):
                raise
    created = request("POST", create_url, headers, {"body": body})
    return "created", int(created["id"]) if isinstance(created, dict) and "id" in created else 0
