"""Episodic recall in context: linear fusion, neighbours in the order recorded, query inflections."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contextwise.errors import UsageError
from contextwise.memory import EpisodicMemory, MemoryBackend
from contextwise.memory._context_rank import POSITION, ContextRanking, expand_query
from contextwise.testing import HashEmbedder
from contextwise.types import Record

_FILLER = [f"Caroline: cousin {n} came by" for n in range(30)]
_ANSWER = "Caroline: A lake sunrise, all orange and gold, with a small boat near the shore and birds over the water."


def _episodic(store="memory:", ranking=None):
    return EpisodicMemory(MemoryBackend(store, HashEmbedder(384), tenant="t"), ranking=ranking)


def _conversation(mem):
    for text in _FILLER[:15]:
        mem.record(text)
    mem.record("Melanie: What did you paint for the art show last week?")
    mem.record(_ANSWER)
    for text in _FILLER[15:]:
        mem.record(text)


def test_a_turn_is_found_through_the_turn_before_it():
    mem = _episodic()
    _conversation(mem)
    found = [i.text for i in mem.recall("What did Caroline paint?", 32)]
    alone = _episodic(ranking=ContextRanking(neighbour_weight=0.0, window=0))
    _conversation(alone)
    unlifted = [i.text for i in alone.recall("What did Caroline paint?", 32)]
    assert found.index(_ANSWER) <= 2 and found.index(_ANSWER) < unlifted.index(_ANSWER)


def test_positions_are_consecutive_across_memory_objects(tmp_path):
    store = f"sqlite:{tmp_path / 'm.db'}"
    first = _episodic(store)
    a = first.record("Alice: first").item
    b = first.record("Alice: second").item
    c = _episodic(store).record("Alice: third, from another memory object").item
    assert [i.metadata[POSITION] for i in (a, b, c)] == [0, 1, 2]
    assert len(first.backend.scan("episodic")) == 3  # the counter is not an episode


def test_ranking_handles_hits_without_positions_and_normalises_relevance():
    hits = [(Record(f"r{n}", f"text {n}", None, {}), 1.0 - n / 10) for n in range(5)]
    ranked = ContextRanking().rank(hits, hits[::-1])
    assert ranked[0][1] == 1.0 and all(0.0 <= s <= 1.0 for _, s in ranked)
    assert ContextRanking().rank([], []) == []


@pytest.mark.parametrize("bad", [dict(dense_weight=-1), dict(window=-1), dict(pool=0),
                                 dict(dense_weight=0, lexical_weight=0), dict(window_weight=float("nan"))])
def test_bad_ranking_settings_are_refused(bad):
    with pytest.raises(UsageError):
        ContextRanking(**bad)


@given(st.text(min_size=1, max_size=80))
def test_expanded_query_keeps_the_query_and_adds_only_lowercase_words(query):
    expanded = expand_query(query)
    assert expanded.startswith(query)
    assert all(w.islower() for w in expanded[len(query):].split())


def test_expand_query_adds_inflections_of_content_words_only():
    assert expand_query("When did Caroline go running?").split()[5:] == ["run", "runs", "runing", "runed"]
    assert expand_query("Who is Bob?") == "Who is Bob?"


def test_linear_part_of_episodic_ranking_is_the_shared_fusion_with_the_cut_floor():
    # with no neighbour or window lift the ranking is dense_weight * cosine + lexical_weight * lexical, an
    # item a cut search did not return counting that search's lowest score; relevance is scaled by the best
    import random

    from contextwise.memory._context_rank import ContextRanking
    from contextwise.types import Record

    rng = random.Random(3)
    records = [Record(f"r{i}", "t", None, {}) for i in range(40)]
    dense = [(r, rng.random()) for r in records[:25]]
    lexical = [(r, rng.random()) for r in records[16:]]
    ranking = ContextRanking(neighbour_weight=0.0, window=0, window_weight=0.0, pool=25)
    d, lx = dict((r.id, s) for r, s in dense), dict((r.id, s) for r, s in lexical)
    d_floor = min(d.values())  # dense came back full (25 = pool): cut; lexical (24) was not
    expected = {r.id: 2.5 * d.get(r.id, d_floor) + 1.0 * lx.get(r.id, 0.0) for r in records}
    top = max(expected.values())
    got = ranking.rank(dense, lexical)
    assert [r.id for r, _ in got] == sorted(expected, key=lambda i: (-expected[i], i))
    assert all(abs(s - expected[r.id] / top) < 1e-12 for r, s in got)
