"""The real chat server, started once per test module and always stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from live_chat import ChatServer, ServerFailed, live_chat

MAX_INPUT_CHARS = 500  # small, so the over-long test message stays short


@pytest.fixture(scope="module")
def outside_requests() -> list[str]:
    """URLs a module's tab fetched from anywhere but the chat server (filled by open_tab)."""
    return []


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatServer]:
    try:
        with live_chat(tmp_path_factory.mktemp("chat-server"), MAX_INPUT_CHARS) as server:
            yield server
    except ServerFailed as exc:
        pytest.fail(str(exc))
