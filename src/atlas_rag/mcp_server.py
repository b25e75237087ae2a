"""`atlas-rag mcp`: the assistant's tools and pages for MCP clients, on the official `mcp` SDK.

A shell over ``tools.py``: it registers each tool function with the index bound, turns the
core's errors into tool errors that say what to do, and serves stdio (the default) or
streamable HTTP on loopback, with an optional bearer token and DNS-rebinding protection.
The SDK is imported only when a server is built, so the library works without it.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import __version__, tools
from .errors import AtlasRagError, UnknownIdError
from .settings import Settings

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from .api import AtlasRAG

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "MITRE ATLAS, the knowledge base of adversary tactics, techniques, mitigations and case "
    "studies against AI systems, from a local index. Look objects up by ID with get_object and "
    "related (exact, from the release), find them by words with search, answer questions with "
    "ask, map an incident write-up with map_text. Cite ATLAS IDs (AML.T0051, AML.M0015)."
)
MCP_PATH = "/mcp"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


class LazyIndex:
    """Opens the index on first use, once, and keeps it; an opening error is raised each time."""

    def __init__(self, opener: Callable[[], AtlasRAG]) -> None:
        self._opener = opener
        self._rag: AtlasRAG | None = None
        self._lock = threading.Lock()

    def __call__(self) -> AtlasRAG:
        with self._lock:
            if self._rag is None:
                self._rag = self._opener()
            return self._rag


def build_server(index: AtlasRAG | Callable[[], AtlasRAG]) -> MCPServer:
    """An MCP server with the ATLAS tools and resources over an opened index (or its opener)."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import (
            ResourceError,
            ResourceNotFoundError,
            ToolError,
        )
        from mcp.types import ToolAnnotations
    except ImportError as exc:  # pragma: no cover - a dependency; a broken install
        raise AtlasRagError("the MCP server needs the mcp package", "pip install 'mcp==2.3.0'") from exc

    rag: Callable[[], AtlasRAG] = index if callable(index) else (lambda: index)
    server: MCPServer = MCPServer(
        "atlas-rag", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    def as_tool_errors(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def tool(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except AtlasRagError as exc:
                raise ToolError(str(exc)) from exc

        del tool.__wrapped__  # the schema is the bound signature
        return tool

    for spec in tools.TOOLS:
        server.add_tool(
            as_tool_errors(spec.bind(rag)), name=spec.name, title=spec.title,
            description=spec.description, annotations=read_only, structured_output=True,
        )

    @server.resource("atlas://object/{atlas_id}", name="object", mime_type="text/markdown")
    def object_page(atlas_id: str) -> str:
        """An ATLAS object's page: markdown with YAML frontmatter (fields and relations)."""
        try:
            return tools.object_page(rag(), atlas_id)
        except UnknownIdError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        except AtlasRagError as exc:
            raise ResourceError(str(exc)) from exc

    @server.resource("atlas://release", name="release", mime_type="application/json")
    def release() -> str:
        """The ATLAS release the index holds: version and number of objects by type."""
        try:
            return json.dumps(tools.release_info(rag()))
        except AtlasRagError as exc:
            raise ResourceError(str(exc)) from exc

    return server


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BearerTokenGuard:
    """ASGI middleware: HTTP requests must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = json.dumps({
                    "error": "unauthorized",
                    "error_description": "send the token of ATLAS_RAG_MCP_TOKEN as "
                                         "'Authorization: Bearer <token>'",
                }).encode()
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="atlas-rag"'),
                ]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_app(
    server: MCPServer, host: str, port: int, token: str | None,
    allowed_hosts: Sequence[str] = (),
) -> Any:
    """The streamable HTTP app at /mcp: Host and Origin checked, the token required if set."""
    from mcp.server.transport_security import TransportSecuritySettings

    names = [*LOOPBACK_NAMES, *allowed_hosts]
    if not is_loopback(host) and host not in ("0.0.0.0", "::"):
        names.append(host)
    hosts = [f"[{n}]" if ":" in n else n for n in dict.fromkeys(names)]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[h for n in hosts for h in (n, f"{n}:{port}")],
        allowed_origins=[f"http://{n}:{port}" for n in hosts],
    )
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH, transport_security=security, host=host
    )
    return BearerTokenGuard(app, token) if token else app


def serve(
    settings: Settings, *, http: bool = False, host: str = "127.0.0.1", port: int = 8765,
    allowed_hosts: Sequence[str] = (),
) -> None:
    """Serve the MCP server on stdio, or on streamable HTTP at http://host:port/mcp."""
    from .api import AtlasRAG

    server = build_server(LazyIndex(lambda: AtlasRAG.open(settings=settings)))
    if not http:
        server.run()
        return
    import uvicorn

    token = settings.mcp_token or None
    if not token and not is_loopback(host):
        logger.warning(
            "serving MCP on %s without a token: anyone who can reach this address can use it "
            "(set ATLAS_RAG_MCP_TOKEN)", host,
        )
    app = http_app(server, host, port, token, allowed_hosts)
    logger.info("MCP server on http://%s:%d%s", host, port, MCP_PATH)
    uvicorn.run(app, host=host, port=port, log_level="warning")
