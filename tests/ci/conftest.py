from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ci._support import FakeApi, serve_api


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """A local stand-in for the GitHub/GitLab comment API; ``fake_api.url`` is its base URL."""
    api = FakeApi()
    server = serve_api(api)
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
