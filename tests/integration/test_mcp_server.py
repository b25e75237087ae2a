"""`atlas-rag mcp` as a real subprocess (stdio, streamable HTTP with and without a token), and
the MCP tools on the full release.

The subprocess tests serve the fictional fixture release built with the real model (a
subprocess cannot use the fake embedder; the fixture is small, so the build takes seconds).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from atlas_rag import Settings, build_index
from atlas_rag.mcp_server import build_server
from helpers import FIXTURE_RELEASE, Full, make_settings, stop_process

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

STARTUP_SECONDS = 60
TOOL_NAMES = {"search", "get_object", "related", "ask", "map_text", "list_tactics",
              "navigator_layer"}
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "test", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def fixture_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The fixture release built with the real model (not fine-tuned: nothing to learn from)."""
    settings = make_settings(tmp_path_factory.mktemp("mcp"), fine_tune=False)
    build_index(FIXTURE_RELEASE, settings=settings)
    return settings


def command(*args: str) -> list[str]:
    """`atlas-rag ...` as installed beside this interpreter, else through the module."""
    script = Path(sys.executable).with_name("atlas-rag")
    return [str(script), *args] if script.is_file() else [sys.executable, "-m", "atlas_rag.cli", *args]


def server_env(settings: Settings, home: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
        "ATLAS_RAG_OFFLINE": "1", "ATLAS_RAG_CACHE_DIR": str(settings.cache_dir),
        "ATLAS_RAG_FINE_TUNE": "0",
    }
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(settings: Settings, root: Path, **env: str) -> Iterator[str]:
    """`atlas-rag mcp --http` on a free loopback port; yields its URL once it accepts."""
    port = free_port()
    log_path = root / f"mcp-http-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command("mcp", "--http", "--port", str(port), "--index-dir", str(settings.index_dir)),
            env=server_env(settings, root, **env), stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                if process.poll() is not None:
                    pytest.fail(f"the MCP server exited: {log_path.read_text()[-3000:]}")
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"the MCP server did not start: {log_path.read_text()[-3000:]}")
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            stop_process(process)


async def check_session(client: Client) -> None:
    """What every transport must carry: the tool list, a structured result, a tool error."""
    assert {t.name for t in (await client.list_tools()).tools} == TOOL_NAMES
    found = await client.call_tool("search", {"query": "Weathervane Model Cloning", "k": 3})
    assert not found.is_error, found.content
    assert found.structured_content is not None
    assert found.structured_content["results"][0]["id"] == "AML.T0903"
    missing = await client.call_tool("get_object", {"atlas_id": "AML.T0999"})
    assert missing.is_error
    assert "AML.T0999 is not in ATLAS 0.9.0" in missing.content[0].text  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ stdio


async def test_stdio_subprocess_serves_the_tools(fixture_index: Settings, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=command()[0], args=[*command()[1:], "mcp", "--index-dir", str(fixture_index.index_dir)],
        env=server_env(fixture_index, tmp_path),
    )
    with (tmp_path / "stderr.log").open("w") as log:
        async with Client(stdio_client(params, errlog=log)) as client:
            await check_session(client)
            page = await client.read_resource("atlas://object/AML.T0903")
            assert "# AML.T0903: Weathervane Model Cloning" in page.contents[0].text  # type: ignore[union-attr]


async def test_stdio_without_an_index_says_to_build(fixture_index: Settings, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=command()[0], args=[*command()[1:], "mcp", "--index-dir", str(tmp_path / "none")],
        env=server_env(fixture_index, tmp_path),
    )
    with (tmp_path / "stderr.log").open("w") as log:
        async with Client(stdio_client(params, errlog=log)) as client:
            result = await client.call_tool("list_tactics", {})
    assert result.is_error
    assert "atlas-rag build" in result.content[0].text  # type: ignore[union-attr]


# ------------------------------------------------------------------------------- HTTP


async def test_http_with_a_token_refuses_requests_without_it(
    fixture_index: Settings, tmp_path: Path
) -> None:
    with http_server(fixture_index, tmp_path, ATLAS_RAG_MCP_TOKEN="s3cret-token") as url:
        async with httpx2.AsyncClient(timeout=30) as raw:
            missing = await raw.post(url, json=INITIALIZE, headers=MCP_HEADERS)
            wrong = await raw.post(url, json=INITIALIZE,
                                   headers={**MCP_HEADERS, "Authorization": "Bearer guess"})
            # DNS rebinding: the right token from a page whose name was rebound to loopback.
            rebound = await raw.post(url, json=INITIALIZE, headers={
                **MCP_HEADERS, "Authorization": "Bearer s3cret-token", "Host": "evil.example"})
        assert (missing.status_code, wrong.status_code) == (401, 401)
        assert "ATLAS_RAG_MCP_TOKEN" in missing.text
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert rebound.status_code == 421
        async with (
            httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret-token"},
                               timeout=httpx2.Timeout(30.0, read=120.0)) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            await check_session(client)


async def test_http_without_a_token_serves_loopback(fixture_index: Settings, tmp_path: Path) -> None:
    with http_server(fixture_index, tmp_path) as url:
        async with (
            httpx2.AsyncClient(timeout=httpx2.Timeout(30.0, read=120.0)) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            assert {t.name for t in (await client.list_tools()).tools} == TOOL_NAMES
            record = await client.call_tool("get_object", {"atlas_id": "cs0902"})
        assert record.structured_content is not None
        assert record.structured_content["name"] == "Glasshouse Cartographer Incident"


# ----------------------------------------------------------------------- full release


@pytest.fixture(scope="module")
def full_server(full: Full) -> Any:
    return build_server(full.rag)


async def call(server: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    async with Client(server, raise_exceptions=True) as client:
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def test_full_search_finds_model_theft_through_the_api(full_server: Any) -> None:
    found = await call(full_server, "search", query="steal a model through its API", k=3)
    assert "AML.T0024.002" in [r["id"] for r in found["results"]]


async def test_full_related_subtechniques_of_prompt_injection(full_server: Any) -> None:
    subs = await call(full_server, "related", atlas_id="AML.T0051", relation="subtechniques")
    assert [r["id"] for r in subs["results"]] == ["AML.T0051.000", "AML.T0051.001", "AML.T0051.002"]


async def test_full_get_object_reads_a_loose_id(full_server: Any) -> None:
    record = await call(full_server, "get_object", atlas_id="t0051.001")
    assert record["id"] == "AML.T0051.001"
    assert record["parent"]["id"] == "AML.T0051"


async def test_full_layer_uses_navigator_tactic_shortnames(full_server: Any) -> None:
    layer = await call(full_server, "navigator_layer", atlas_ids=["AML.T0051.001", "AML.T0024"])
    tactics = {r["tactic"] for r in layer["techniques"]}
    assert tactics and all(t == t.lower() and " " not in t for t in tactics)
    assert "initial-access" in tactics or "exfiltration" in tactics
