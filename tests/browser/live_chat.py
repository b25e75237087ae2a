"""Run the real chat app in a subprocess on a free loopback port, on the fixture index.

The subprocess builds the fixture release with the fake embedder (fast and deterministic)
and serves it with the same ``build_app`` and ``launch`` that ``atlas-rag chat`` uses.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from helpers import TESTS_DIR, stop_process

STARTUP_SECONDS = 90

LAUNCHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, {tests_dir!r})
    from helpers import FakeEmbedder, build_fixture

    from atlas_rag import AtlasRAG
    from atlas_rag.chat import build_app, launch

    root, port, max_input_chars = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    built = build_fixture(root, port=port, max_input_chars=max_input_chars)
    rag = AtlasRAG.open(built.index_dir, settings=built.settings, embedder=FakeEmbedder())
    launch(build_app(rag, built.settings), built.settings, quiet=True)
    """
)


@dataclass
class ChatServer:
    url: str
    max_input_chars: int
    log: Path


class ServerFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(f"the chat server exited with {process.returncode}:\n"
                               f"{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise ServerFailed(f"the chat server did not answer at {url} in {STARTUP_SECONDS}s:\n"
                       f"{log.read_text(errors='replace')}")


@contextmanager
def live_chat(root: Path, max_input_chars: int) -> Iterator[ChatServer]:
    """The chat served from ``root`` until the block ends; the process is always stopped."""
    launcher = root / "launch_chat.py"
    launcher.write_text(LAUNCHER.format(tests_dir=str(TESTS_DIR)), encoding="utf-8")
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
               GRADIO_ANALYTICS_ENABLED="False", GRADIO_TEMP_DIR=str(root / "gradio-tmp"),
               PYTHONUNBUFFERED="1")
    log = root / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(launcher), str(root / "site"), str(port), str(max_input_chars)],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(process, url, log)
        yield ChatServer(url, max_input_chars, log)
    finally:
        stop_process(process)
