"""Torch's thread count follows the work: one thread for one text, every core for a batch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from atlas_rag import embeddings  # noqa: E402


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_single_text_gets_one_thread(restore_threads, monkeypatch):
    monkeypatch.setattr(embeddings, "_all_cores", [3])
    embeddings.use_threads_for(1)
    assert torch.get_num_threads() == 1


def test_a_batch_gets_every_core_torch_had(restore_threads, monkeypatch):
    monkeypatch.setattr(embeddings, "_all_cores", [3])
    embeddings.use_threads_for(1)
    embeddings.use_threads_for(2)
    assert torch.get_num_threads() == 3


def test_every_core_is_what_torch_had_before_the_first_change(restore_threads, monkeypatch):
    monkeypatch.setattr(embeddings, "_all_cores", [])
    torch.set_num_threads(2)
    embeddings.use_threads_for(1)
    embeddings.use_threads_for(40)
    assert torch.get_num_threads() == 2
