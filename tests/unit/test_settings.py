"""Settings: defaults, ATLAS_RAG_* environment variables, explicit overrides, bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_rag import Settings
from atlas_rag.errors import SettingsError

pytestmark = pytest.mark.unit


def test_defaults_without_environment() -> None:
    s = Settings.from_env(env={})
    assert s.source is None
    assert s.offline is False
    assert s.index_dir == Path("index")
    assert s.corpus_dir == Path("corpus")
    assert s.max_query_chars == 4000
    assert s.llm == "none"
    assert s.port == 7860


def test_environment_variables_use_the_prefix_and_are_converted() -> None:
    env = {
        "ATLAS_RAG_INDEX_DIR": "/data/idx",
        "ATLAS_RAG_CORPUS_DIR": "~/pages",
        "ATLAS_RAG_OFFLINE": "true",
        "ATLAS_RAG_PORT": "9000",
        "ATLAS_RAG_CHROMA_TIMEOUT": "2.5",
        "ATLAS_RAG_MAX_QUERY_CHARS": "123",
        "ATLAS_RAG_SOURCE": "/tmp/ATLAS.yaml",
        "ATLAS_RAG_LLM": "ollama",
    }
    s = Settings.from_env(env=env)
    assert s.index_dir == Path("/data/idx")
    assert s.corpus_dir == Path("~/pages").expanduser()
    assert s.offline is True
    assert s.port == 9000 and isinstance(s.port, int)
    assert s.chroma_timeout == 2.5
    assert s.max_query_chars == 123
    assert s.source == "/tmp/ATLAS.yaml"
    assert s.llm == "ollama"


def test_variables_without_the_prefix_are_ignored() -> None:
    s = Settings.from_env(env={"PORT": "1234", "INDEX_DIR": "/x", "ATLAS_PORT": "99"})
    assert s.port == 7860
    assert s.index_dir == Path("index")


def test_empty_environment_value_means_default() -> None:
    assert Settings.from_env(env={"ATLAS_RAG_PORT": ""}).port == 7860


def test_from_env_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS_RAG_MAX_QUERY_CHARS", "777")
    assert Settings.from_env().max_query_chars == 777


def test_overrides_beat_environment_and_none_overrides_are_ignored() -> None:
    env = {"ATLAS_RAG_PORT": "9000", "ATLAS_RAG_INDEX_DIR": "/env/index"}
    s = Settings.from_env(env=env, port=9100, index_dir=None)
    assert s.port == 9100
    assert s.index_dir == Path("/env/index")


def test_overrides_are_converted_like_environment_values() -> None:
    s = Settings.from_env(env={}, port="8080", index_dir="some/dir", offline="yes")
    assert s.port == 8080
    assert s.index_dir == Path("some/dir")
    assert s.offline is True


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on"])
def test_true_values(raw: str) -> None:
    assert Settings.from_env(env={"ATLAS_RAG_OFFLINE": raw}).offline is True


@pytest.mark.parametrize("raw", ["0", "false", "no", "off"])
def test_false_values(raw: str) -> None:
    assert Settings.from_env(env={"ATLAS_RAG_OFFLINE": raw}).offline is False


@pytest.mark.parametrize("raw", ["maybe", "ture"])
def test_unrecognised_boolean_is_an_error(raw: str) -> None:
    with pytest.raises(SettingsError, match="ATLAS_RAG_OFFLINE"):
        Settings.from_env(env={"ATLAS_RAG_OFFLINE": raw})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ATLAS_RAG_PORT": "eighty"}, "port"),
        ({"ATLAS_RAG_PORT": "0"}, "port"),
        ({"ATLAS_RAG_PORT": "-5"}, "port"),
        ({"ATLAS_RAG_MAX_QUERY_CHARS": "1.5"}, "max_query_chars"),
        ({"ATLAS_RAG_EMBED_BATCH_SIZE": "0"}, "embed_batch_size"),
        ({"ATLAS_RAG_RERANK_DEPTH": "0"}, "rerank_depth"),
        ({"ATLAS_RAG_CHROMA_TIMEOUT": "soon"}, "chroma_timeout"),
        ({"ATLAS_RAG_LLM": "gpt"}, "llm"),
        ({"ATLAS_RAG_CHROMA_URL": "localhost:8000"}, "chroma_url"),
    ],
)
def test_bad_environment_values_raise_settings_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        Settings.from_env(env=env)
    assert isinstance(info.value, ValueError)


def test_conversion_error_names_the_variable() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env={"ATLAS_RAG_PORT": "eighty"})
    assert "ATLAS_RAG_PORT" in str(info.value)


def test_bad_override_value_raises_settings_error() -> None:
    with pytest.raises(SettingsError, match="port"):
        Settings.from_env(env={}, port="eighty")


def test_unknown_override_raises_settings_error() -> None:
    with pytest.raises(SettingsError, match="no_such_setting"):
        Settings.from_env(env={}, no_such_setting=1)


def test_describe_lists_every_setting_with_its_variable() -> None:
    rows = Settings.describe()
    names = {env for env, _default, _doc in rows}
    assert all(env.startswith("ATLAS_RAG_") for env in names)
    for expected in ("ATLAS_RAG_SOURCE", "ATLAS_RAG_OFFLINE", "ATLAS_RAG_INDEX_DIR",
                     "ATLAS_RAG_CORPUS_DIR", "ATLAS_RAG_CACHE_DIR", "ATLAS_RAG_MODEL_PATH"):
        assert expected in names
    assert all(doc.strip() for _env, _default, doc in rows)


def test_settings_are_immutable_and_replace_keeps_unset_fields() -> None:
    s = Settings.from_env(env={}, port=9000)
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]
    t = s.replace(index_dir=Path("/elsewhere"), corpus_dir=None)
    assert t.index_dir == Path("/elsewhere")
    assert t.corpus_dir == s.corpus_dir
    assert t.port == 9000
