"""A tiny scripted OpenAI-compatible server for the LLM backend tests.

It answers ``POST /v1/chat/completions`` (streamed as server-sent events or as one JSON
body) and ``GET /v1/models``, with replies the test scripts in advance, and records every
request it receives so a test can read the prompt that was sent.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted reply: its text cut into ``chunks``, after ``delay`` seconds."""

    text: str = "A scripted reply."
    chunks: list[str] | None = None  # how the text is streamed; default: word by word
    delay: float = 0.0  # seconds before the response starts
    status: int = 200
    chunk_delay: float = 0.0  # seconds between streamed chunks

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        words = self.text.split(" ")
        return [w + (" " if n < len(words) - 1 else "") for n, w in enumerate(words)]


@dataclass
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def prompt(self) -> str:
        """All message contents of the request, in order, as one text."""
        return "\n".join(str(m.get("content") or "") for m in self.messages)


class FakeLLMServer:
    """Serves scripted chat completions on 127.0.0.1 at a free port; use as a context manager."""

    def __init__(self, model: str = "scripted-model") -> None:
        self.model = model
        self.replies: list[Reply] = []
        self.default = Reply()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def script(self, *replies: Reply | str) -> None:
        """Replies for the next requests, in order; later requests get ``default``."""
        with self._lock:
            self.replies += [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()  # wakes handlers that are sleeping out a delay
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_reply(self) -> Reply:
        with self._lock:
            return self.replies.pop(0) if self.replies else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _record(self, body: dict[str, Any]) -> None:
                with server._lock:
                    server.requests.append(
                        Request(self.command, self.path, dict(self.headers.items()), body)
                    )

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._record({})
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [
                        {"id": server.model, "object": "model", "created": 0, "owned_by": "test"}
                    ]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    body = {}
                self._record(body)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                reply = server._next_reply()
                if reply.delay and server._stopping.wait(reply.delay):
                    return
                try:
                    if reply.status != 200:
                        self._json(reply.status, {"error": {"message": "scripted failure"}})
                    elif body.get("stream"):
                        self._stream(reply)
                    else:
                        self._json(200, completion(server.model, reply.text))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to do

            def _stream(self, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                for n, piece in enumerate(reply.pieces()):
                    if n and reply.chunk_delay and server._stopping.wait(reply.chunk_delay):
                        return
                    self._event(chunk(server.model, {"role": "assistant", "content": piece}
                                      if n == 0 else {"content": piece}))
                self._event(chunk(server.model, {}, finish="stop"))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        return Handler


def chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
