"""The chat's /chat endpoint, called the way scripts call it: gradio_client and plain HTTP."""

from __future__ import annotations

import http.client
import importlib.util
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from gradio_client import Client
from live_chat import ChatServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def client(chat_server: ChatServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    downloads: Path = tmp_path_factory.mktemp("client-downloads")
    api = Client(chat_server.url, verbose=False, analytics_enabled=False,
                 download_files=str(downloads))
    try:
        yield api
    finally:
        api.close()


def test_endpoint_is_named_chat_and_takes_the_filters(client: Client) -> None:
    info = client.view_api(print_info=False, return_format="dict")
    assert isinstance(info, dict)
    parameters = [p["parameter_name"] for p in info["named_endpoints"]["/chat"]["parameters"]]
    assert parameters == ["message", "types", "tactics"]


def test_answer_cites_the_id_with_its_source(client: Client) -> None:
    answer = client.predict(message="What is AML.T0903?", api_name="/chat")
    assert isinstance(answer, str)
    assert answer.startswith("**Weathervane Model Cloning** ([AML.T0903]) is")
    assert "[AML.T0903]: https://atlas.mitre.org/techniques/AML.T0903" in answer
    assert "[AML.T0903 Weathervane Model Cloning](https://atlas.mitre.org/techniques/AML.T0903)" \
        in answer.split("<summary>Sources", 1)[1]


def test_filters_over_the_api(client: Client) -> None:
    answer = client.predict(message="how do adversaries copy a proprietary predictor?",
                            types=["mitigation"], tactics=[], api_name="/chat")
    assert "[AML.M0901 Beacon Throttling](https://atlas.mitre.org/mitigations/AML.M0901)" in answer
    assert "AML.T0903 Weathervane" not in answer  # techniques are filtered out


def test_over_long_message_over_the_api(client: Client, chat_server: ChatServer) -> None:
    limit = chat_server.max_input_chars
    answer = client.predict(message="a" * (limit + 1), api_name="/chat")
    assert f"the limit is {limit:,} characters" in answer


def test_load_benchmark_client_reads_the_final_answer(chat_server: ChatServer) -> None:
    bench_load = _load_script("bench_load")
    parts = urllib.parse.urlsplit(chat_server.url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        answer = bench_load.ask(connection, "What is AML.T0903?")
        again = bench_load.ask(connection, "What is AML.M0901?")  # same keep-alive connection
    finally:
        connection.close()
    assert "**Weathervane Model Cloning** ([AML.T0903])" in answer
    assert "<summary>Sources" in answer  # the complete event, not a streamed piece
    assert "AML.M0901" in again


def _load_script(name: str) -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
