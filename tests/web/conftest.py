"""Every framework test runs through both of the App's paths: the native one (porch's server)
and the ASGI one (any ASGI server), so that they cannot drift apart."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from porch.testing import TestClient


@pytest.fixture(params=["native", "asgi"])
def path(request: pytest.FixtureRequest) -> str:
    """The path a test's requests take into the application."""
    return str(request.param)


@pytest.fixture
def client_for(path: str) -> Iterator[Callable[..., TestClient]]:
    """`client_for(app, **options)`: a started TestClient on the path under test."""
    clients: list[TestClient] = []

    def make(app: Any, **options: Any) -> TestClient:
        client = TestClient(app, path=path, **options)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
