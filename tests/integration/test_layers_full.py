"""Navigator layers and the matrix view on the full ATLAS release (the ``full`` fixture).

Expected values come from the raw YAML (read here, not through the library) and from the
Navigator's column names of ATLAS 5.6.0, written out by hand.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

from atlas_rag.matrix_view import render_matrix
from atlas_rag.navigator import mapping_layer, read_layer
from helpers import Full

pytestmark = pytest.mark.integration

# The 16 columns of the ATLAS 5.6.0 matrix as the Navigator names them, in matrix order.
SHORTNAMES = [
    "reconnaissance", "resource-development", "initial-access", "ai-model-access", "execution",
    "persistence", "privilege-escalation", "defense-evasion", "credential-access", "discovery",
    "lateral-movement", "collection", "ai-attack-staging", "command-and-control", "exfiltration",
    "impact",
]
CASE_STUDIES = 57
# A write-up of our own (no ATLAS text), about 2,000 characters, for the timing.
WRITE_UP = (
    "Incident summary, customer support assistant, March. Our support assistant is a large "
    "language model that answers customers from a retrieval index of help-centre articles and "
    "can open tickets and send e-mail through plugins. An outsider first read our public job "
    "adverts and conference talks to learn which model vendor and vector database we used. "
    "They then registered a look-alike domain and published several help articles on a forum "
    "that our crawler imports every night.\n\n"
    "The articles carried hidden instructions in white text telling the assistant to ignore "
    "its rules, to reveal its system prompt and to forward the last customer's conversation to "
    "an outside address. Once the crawler indexed them, any question about refunds pulled the "
    "poisoned article into the context, and the assistant followed the hidden text. It printed "
    "its system prompt to a tester and sent two e-mails with chat transcripts, including order "
    "numbers and home addresses, to the attacker's mailbox using the e-mail plugin.\n\n"
    "In parallel the same person sent thousands of crafted questions to the public chat "
    "endpoint, rephrasing requests until the safety filter let harmful answers through, and "
    "shared the working jailbreak on a forum. They also queried our fraud scoring API many "
    "times with slightly changed transactions and used the returned scores to train a copy of "
    "the model, which they used offline to find transactions our model would approve.\n\n"
    "Finally, an engineer downloaded a pretrained checkpoint from a public model hub for a new "
    "classifier; the file was a pickle that ran code when loaded and opened a reverse shell "
    "from the training server. From there the intruder listed the storage buckets, found the "
    "folder with our labelled training data and copied it out over an encrypted channel to a "
    "rented cloud machine. We rotated keys, removed the articles, limited query rates, "
    "added provenance checks for crawled content and now scan model files before loading them."
)


def _time(work: Any) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _tactic_shortnames(full: Full) -> dict[str, str]:
    """Tactic ID -> the Navigator's column name, from the raw YAML's tactic names."""
    out = {}
    for matrix in full.raw["matrices"]:
        for tactic in matrix["tactics"]:
            out[tactic["id"]] = "-".join(
                "".join(c if c.isalnum() else " " for c in tactic["name"].lower()).split())
    return out


def _check_columns(layer: dict[str, Any]) -> None:
    assert layer["domain"] == "atlas-atlas"
    assert {"name": "atlas_data_version", "value": "5.6.0"} in layer["metadata"]
    tactics = [r["tactic"] for r in layer["techniques"]]
    assert set(tactics) <= set(SHORTNAMES)
    order = [SHORTNAMES.index(t) for t in tactics]
    assert order == sorted(order), "rows in matrix order"
    pairs = [(r["techniqueID"], r["tactic"]) for r in layer["techniques"]]
    assert len(pairs) == len(set(pairs))


def test_every_layer_uses_the_sixteen_tactic_shortnames(full: Full) -> None:
    rag = full.rag
    assert sorted(_tactic_shortnames(full).values()) == sorted(SHORTNAMES)
    techniques = [r.id for r in rag.catalog.of_type("technique", "subtechnique")]
    every = rag.layer(ids=techniques)
    _check_columns(every)
    assert {r["tactic"] for r in every["techniques"]} == set(SHORTNAMES)
    frequency = rag.layer(frequency=True)
    _check_columns(frequency)
    mapped = rag.layer(text=WRITE_UP)
    _check_columns(mapped)
    assert [r for r in mapped["techniques"] if "score" in r]
    for layer in (every, frequency, mapped):
        read = read_layer(rag.catalog, layer)
        assert [(t.id, t.tactic) for t in read.techniques] == \
            [(r["techniqueID"], r["tactic"]) for r in layer["techniques"]]


def test_frequency_counts_match_the_raw_procedures(full: Full) -> None:
    counts: dict[str, int] = {}
    for study in full.raw["case-studies"]:
        for technique in {step["technique"] for step in study.get("procedure") or []}:
            counts[technique] = counts.get(technique, 0) + 1
    layer = full.rag.layer(frequency=True)
    scores = {r["techniqueID"]: r["score"] for r in layer["techniques"] if "score" in r}
    assert scores == counts
    assert layer["gradient"]["maxValue"] == max(counts.values())


def test_case_study_layers_match_their_procedures_exactly(full: Full) -> None:
    shortnames = _tactic_shortnames(full)
    parents = {t["id"]: t["subtechnique-of"] for m in full.raw["matrices"]
               for t in m["techniques"] if t.get("subtechnique-of")}
    studies = full.raw["case-studies"]
    assert len(studies) == CASE_STUDIES
    for study in studies:
        steps = study["procedure"]
        wanted = {(s["technique"], shortnames[s["tactic"]]) for s in steps}
        layer = full.rag.layer(study["id"])
        _check_columns(layer)
        scored = {(r["techniqueID"], r["tactic"]) for r in layer["techniques"] if "score" in r}
        assert scored == wanted, study["id"]
        # The only other rows: parents of the procedure's sub-techniques, to expand them.
        extra = {(r["techniqueID"], r["tactic"]) for r in layer["techniques"] if "score" not in r}
        assert extra == {(parents[t], tactic) for t, tactic in wanted
                         if t in parents and (parents[t], tactic) not in wanted}, study["id"]
        comments = {(r["techniqueID"], r["tactic"]): r["comment"] for r in layer["techniques"]}
        for n, step in enumerate(steps, start=1):
            comment = comments[(step["technique"], shortnames[step["tactic"]])]
            assert f"Step {n}: {step['description'].strip()}" in comment, (study["id"], n)


def test_map_and_render_a_write_up_stays_under_a_second_warm(full: Full) -> None:
    rag = full.rag
    assert 1800 <= len(WRITE_UP) <= 2300

    def map_and_render() -> tuple[dict[str, Any], str]:
        hits = rag.map_text(WRITE_UP, k=50)
        scores = {h.id: round(h.score * 100, 1) for h in hits}
        return mapping_layer(rag.catalog, hits), render_matrix(rag.catalog, scores)

    rag.map_text("The model was copied through its public API.", k=5)  # models loaded

    def forget() -> None:
        """Empty the per-query caches, so each run searches for real (as a new report would)."""
        rag.retriever.dense.cache_clear()
        rag.retriever._chunk_bm25.cache_clear()

    timings, repeats = [], []
    for _ in range(3):
        forget()
        start = time.perf_counter()
        layer, html = map_and_render()
        timings.append(time.perf_counter() - start)
        start = time.perf_counter()
        map_and_render()  # the same report again: its searches are cached
        repeats.append(time.perf_counter() - start)
    median = statistics.median(timings)
    print(f"\nmap_text ({len(WRITE_UP)} chars) + layer + matrix HTML, models warm, caches empty: "
          f"median {median * 1000:.0f} ms (runs {', '.join(f'{t * 1000:.0f}' for t in timings)} "
          f"ms); the same report again (cached searches): median "
          f"{statistics.median(repeats) * 1000:.0f} ms; "
          f"{len([r for r in layer['techniques'] if 'score' in r])} scored rows")
    hits = rag.map_text(WRITE_UP, k=50)
    start = time.perf_counter()
    for _ in range(10):
        mapping_layer(rag.catalog, hits)
        render_matrix(rag.catalog, {h.id: h.score * 100 for h in hits})
    render = (time.perf_counter() - start) / 10
    print(f"layer + matrix HTML alone: {render * 1000:.1f} ms")
    assert render < 0.2
    assert layer["techniques"] and 'class="atlas-cell technique mapped"' in html
    # The target is 1 s on a quiet machine. map_text embeds each window of the text (about 25
    # here) one query at a time, so its time follows the machine's speed at the moment, which
    # a CI run sharing the cores changes tenfold: the bound is generous, and relative to the
    # time of embedding one query measured now.
    floor = statistics.median(_time(lambda: rag.query_embedder.embed([WRITE_UP[:200]]))
                              for _ in range(5))
    print(f"embedding one query now: {floor * 1000:.0f} ms")
    assert median < max(5.0, 80 * floor)
