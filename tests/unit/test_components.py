"""Recognising the components of a described system."""

from __future__ import annotations

import pytest

from atlas_rag.conversation.components import components_in, present_terms

pytestmark = pytest.mark.unit


def keys(text: str) -> list[str]:
    return [c.key for c in components_in(text)]


def test_components_are_found_by_their_everyday_words() -> None:
    assert keys("a support chatbot answering from our wiki, it can send email") == ["llm", "rag", "tools"]


def test_a_component_the_system_is_said_to_lack_is_not_there() -> None:
    assert keys("just a support chatbot on our site, no tools no memory") == ["llm"]
    assert keys("an assistant without any plugins that doesn't remember anything") == ["llm"]


def test_a_negation_reaches_only_the_next_words_of_its_own_clause() -> None:
    assert keys("no plugins, but it has long-term memory") == ["memory"]
    assert "tool" in present_terms("there is no memory in it at all, the agent calls tools")
    assert keys("a no-code chatbot builder with plugins") == ["llm", "tools"]


def test_a_model_shipped_to_devices_is_a_component_of_its_own() -> None:
    assert "device" in keys("we ship the vision model inside our android app so it runs on-device")
    assert "device" not in keys("a vision model behind our inference api")
