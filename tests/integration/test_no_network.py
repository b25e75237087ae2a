"""The runtime opens no outbound connection: build, search, ask, the MCP tools and the chat, with
the real model, and search re-ranked by a cross-encoder loaded by local path.

A fresh interpreter blocks every socket connection and name lookup that is not loopback and
records the attempts; the whole flow must finish with none recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import FIXTURE_RELEASE, shared_cache

pytestmark = pytest.mark.integration

GUARDED_RUN = textwrap.dedent(
    """
    import ipaddress, json, pathlib, shutil, socket, sys, urllib.request

    attempts = []

    def loopback(host):
        if host in ("localhost", "", None):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            attempts.append(f"connect {address}")
            raise OSError("outbound connection blocked by the test")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            attempts.append(f"connect_ex {address}")
            return 111
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not loopback(host):
            attempts.append(f"lookup {host}")
            raise socket.gaierror("name lookup blocked by the test")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo = getaddrinfo

    import atlas_rag
    from atlas_rag import Settings
    from atlas_rag.chat import build_app, launch

    release, work = sys.argv[1], sys.argv[2]
    settings = Settings.from_env(env={}, index_dir=work + "/index", corpus_dir=work + "/corpus",
                                 cache_dir=sys.argv[4], offline=True, port=int(sys.argv[3]))
    atlas_rag.build_index(release, settings=settings)
    rag = atlas_rag.AtlasRAG.open(settings=settings)
    rag.search("copying a prediction endpoint")
    rag.ask("which mitigations address AML.T0903?")
    rag.ask("what is the weather tomorrow?")

    import anyio
    from mcp import Client
    from atlas_rag.mcp_server import build_server

    async def use_mcp_tools():
        calls = [
            ("search", {"query": "copying a prediction endpoint"}),
            ("get_object", {"atlas_id": "t0903"}),
            ("related", {"atlas_id": "AML.T0901", "relation": "subtechniques"}),
            ("ask", {"question": "which mitigations address AML.T0903?"}),
            ("map_text", {"text": "They queried the prediction endpoint thousands of times."}),
            ("list_tactics", {}),
            ("navigator_layer", {"text": "They leaked the silo ledger of training records."}),
        ]
        async with Client(build_server(rag), raise_exceptions=True) as client:
            for name, arguments in calls:
                result = await client.call_tool(name, arguments)
                assert not result.is_error, (name, result.content)
            await client.read_resource("atlas://object/AML.T0903")
            await client.read_resource("atlas://release")
        return [name for name, _ in calls]

    mcp_tools = anyio.run(use_mcp_tools)
    from atlas_rag.embeddings import default_model_path
    cross_encoder = pathlib.Path(work) / "cross-encoder"
    shutil.copytree(default_model_path(), cross_encoder)
    reranked = atlas_rag.AtlasRAG.open(settings=settings.replace(reranker_path=cross_encoder))
    assert "rerank" in reranked.search("copying a prediction endpoint")[0].matched_by
    app = build_app(rag, settings)
    launch(app, settings, prevent_thread_lock=True)
    page = urllib.request.urlopen(f"http://127.0.0.1:{settings.port}/", timeout=30).read()
    app.close()
    print(json.dumps({"attempts": attempts, "page_bytes": len(page), "mcp_tools": mcp_tools}))
    """
)


def test_runtime_opens_no_outbound_connection(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "guarded.py"
    script.write_text(GUARDED_RUN)
    done = subprocess.run(
        [sys.executable, str(script), str(FIXTURE_RELEASE), str(tmp_path), str(port),
         str(shared_cache())],
        capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1",
             # the code under test, when it is not the installed copy (a worktree)
             **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {})},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["page_bytes"] > 1000  # the chat page was served
    assert len(result["mcp_tools"]) == 7  # every MCP tool answered
    assert result["attempts"] == [], f"outbound attempts: {result['attempts']}"
