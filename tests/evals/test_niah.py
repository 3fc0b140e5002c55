"""The NIAH harness's logic, against fakes: a reader model that finds the needle in its prompt."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.errors import UsageError
from contextwise.evals.niah import (
    LOW_OVERLAP,
    Contains,
    ContextBuilder,
    EmptyNeedleError,
    Exact,
    Grid,
    Haystack,
    HaystackTooShortError,
    Needle,
    NiahResults,
    NiahRun,
    Regex,
    ResultsFile,
    WindowExceededError,
    classic,
    content_words,
    describe,
    distractor_similarity,
    low_overlap,
    multi_key,
    multi_query,
    multi_value,
    place_depths,
    run_niah,
    spaced_depths,
    with_distractors,
)
from contextwise.testing import FakeTokenizer, ScriptedChatModel
from contextwise.types import Message

FILLER = " ".join(f"Filler sentence number {i} talks about nothing much." for i in range(3000))


def reader(window_words: int | None = None):
    """A fake model that answers with the sentence of its document holding the question's key words; with
    `window_words` it only reads that many words from the end of the document (a recency-biased model)."""
    def answer(messages: list[Message]) -> str:
        text = messages[-1].text
        document = text.split("<document>\n", 1)[1].split("\n</document>", 1)[0]
        if window_words is not None:
            document = " ".join(document.split()[-window_words:])
        for sentence in re.split(r"(?<=\.) ", document):
            if "San Francisco" in sentence or "special magic" in sentence or "Semper" in sentence:
                return sentence
        return "I do not know."
    return answer


def target(model, window: int = 8192):
    return describe(model, tokenizer=FakeTokenizer(), window_tokens=window)


@pytest.fixture
def hay() -> Haystack:
    return Haystack.from_texts([FILLER])


def test_spaced_depths_sigmoid_keeps_the_ends_and_crowds_them():
    depths = spaced_depths(7, "sigmoid")
    assert depths[0] == 0 and depths[-1] == 100 and list(depths) == sorted(depths)
    assert depths[1] - depths[0] < 25 < depths[3] - depths[2] + 25  # denser near the edges than linear's 16.7
    assert spaced_depths(5) == (0.0, 25.0, 50.0, 75.0, 100.0)


@settings(max_examples=40, deadline=None)
@given(length=st.integers(60, 2000), depth=st.floats(0, 100))
def test_built_context_fits_its_length_and_holds_the_needle(length, depth):
    builder = ContextBuilder(Haystack.from_texts([FILLER]), FakeTokenizer())
    fact = classic().facts[0]
    placed = builder.build(length, depth, [fact])
    assert placed.tokens <= length
    assert placed.tokens >= length - 15  # filled, not just fitted
    assert fact in placed.text
    assert placed.text.startswith(placed.text[:placed.prefix_chars])
    assert abs(placed.insert_depths[0] * 100 - depth) <= 100 * 12 / max(1, length - 20) + 1


def test_deeper_needle_sits_later_and_shares_the_prefix_before_it():
    builder = ContextBuilder(Haystack.from_texts([FILLER]), FakeTokenizer())
    fact = classic().facts[0]
    texts = [builder.build(500, d, [fact]).text for d in (0, 25, 50, 75, 100)]
    positions = [t.index(fact) for t in texts]
    assert positions == sorted(positions) and positions[0] == 0
    assert texts[-1].endswith(fact)
    assert texts[3][:positions[2]] == texts[2][:positions[2]]


def test_multi_needle_placement_follows_the_documented_rule():
    assert place_depths(40, 3) == [40.0, 60.0, 80.0]
    needle = multi_value(3)
    builder = ContextBuilder(Haystack.from_texts([FILLER]), FakeTokenizer())
    placed = builder.build(1000, 40, needle.inserts)
    assert [round(d, 1) for d in placed.insert_depths] == pytest.approx([0.4, 0.6, 0.8], abs=0.03)


def test_ruler_needles_ask_one_key_and_distract_with_the_others():
    mk = multi_key(4, value="uuid", seed=3)
    assert len(mk.distractors) == 3 and mk.answers[0] in mk.facts[0]
    assert all(mk.answers[0] not in d for d in mk.distractors)
    assert re.fullmatch(r"[0-9a-f-]{36}", mk.answers[0])
    assert multi_key(4, seed=3) == multi_key(4, seed=3) and multi_key(4, seed=3) != multi_key(4, seed=4)
    mq = multi_query(4, 2)
    assert len(mq.answers) == 2 and len(mq.facts) == 2 and len(mq.distractors) == 2


@pytest.mark.parametrize("pair", range(len(LOW_OVERLAP)))
def test_low_overlap_questions_share_no_content_word_with_their_fact(pair):
    needle = low_overlap(pair, seed=pair)
    assert not content_words(needle.question) & content_words(needle.facts[0])
    assert needle.answers[0] in needle.facts[0]


def test_distractor_levels_differ_in_similarity():
    near = distractor_similarity(with_distractors(classic(), "near", count=3))
    far = distractor_similarity(with_distractors(classic(), "far", count=3))
    assert min(near) > max(far) >= 0


@pytest.mark.parametrize("bad", [dict(facts=("",)), dict(question=" "), dict(answers=())], ids=str)
def test_an_empty_needle_is_refused(bad):
    fields = dict(name="x", facts=("A fact.",), question="What?", answers=("a",)) | bad
    with pytest.raises(EmptyNeedleError):
        Needle(**fields)


@pytest.mark.parametrize("scorer, answer, score", [
    (Contains(), "They eat a Sandwich in Dolores   Park!", 1.0),
    (Contains(), "a sandwich", 0.5),
    (Exact(), "sandwich, dolores park.", 1.0),
    (Exact(), "a sandwich, dolores park", 1.0),  # articles and punctuation do not count (SQuAD style)
    (Exact(), "sandwich, dolores park in sf", 0.0),
    (Regex(r"dolores\s+park"), "DOLORES  PARK", 1.0),
], ids=["contains", "partial", "exact", "exact-articles", "exact-miss", "regex"])
def test_scorers(scorer, answer, score):
    assert scorer.score(answer, classic()) == score


def test_a_perfect_reader_scores_every_cell(hay):
    model = ScriptedChatModel([reader()], repeat_last=True)
    results = run_niah(target(model), hay, Grid((400, 800), (0, 50, 100), (0, 1)), [classic(), multi_key(3)])
    assert len(results.results) == 2 * 3 * 2 * 2 == len(model.calls)
    assert results.matrix("raw").mean == 1.0 and results.effective_length("raw") == 800


def test_a_recency_biased_reader_loses_early_needles_in_long_contexts(hay):
    model = ScriptedChatModel([reader(window_words=300)], repeat_last=True)
    results = run_niah(target(model), hay, Grid((300, 1200), (0, 100)), [classic()])
    matrix = results.matrix("raw")
    assert matrix.at(300, 0) == 1.0 and matrix.at(1200, 100) == 1.0 and matrix.at(1200, 0) == 0.0
    assert results.effective_length("raw", threshold=0.9) == 300


def test_a_rerun_skips_finished_cells_and_an_interrupted_run_resumes(hay, tmp_path):
    out = tmp_path / "results.jsonl"
    grid = Grid((400, 800), (0, 50, 100))
    calls = {"n": 0}

    def flaky(messages):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("connection lost")
        return reader()(messages)

    with pytest.raises(RuntimeError):
        NiahRun(target(ScriptedChatModel([flaky], repeat_last=True)), hay, grid, out=out).run()
    assert len(ResultsFile(out).load()) == 3
    with out.open("a") as f:
        f.write('{"cell_id": "torn')  # a line cut short by a kill
    resumed = ScriptedChatModel([reader()], repeat_last=True)
    results = NiahRun(target(resumed), hay, grid, out=out).run()
    assert len(resumed.calls) == 3 and len(results.results) == 6
    again = ScriptedChatModel([reader()], repeat_last=True)
    assert NiahRun(target(again), hay, grid, out=out).run().matrix().mean == 1.0 and not again.calls
    assert len(NiahResults.read(out).results) == 6


def test_cell_ids_change_with_what_decides_the_outcome(hay):
    def ids(**kw):
        run = NiahRun(target(ScriptedChatModel(["x"], repeat_last=True)), kw.pop("hay", hay),
                      kw.pop("grid", Grid((400,), (50,))), kw.pop("needles", [classic()]), **kw)
        return {c.id for c in run.plan()}
    base = ids()
    assert ids() == base
    assert ids(order="shuffled") != base
    assert ids(grid=Grid((400,), (50,), (1,))) != base
    assert ids(needles=[multi_key(2)]) != base
    assert ids(hay=Haystack.from_texts([FILLER + " One more."])) != base


@pytest.mark.parametrize("case, error", [
    ("short haystack", HaystackTooShortError),
    ("over the window", WindowExceededError),
    ("tiny buffer", UsageError),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_input_is_a_typed_error_before_any_call(case, error):
    model = ScriptedChatModel(["x"], repeat_last=True)
    hay = Haystack.from_texts(["Too short. " * 20]) if case == "short haystack" else Haystack.from_texts([FILLER])
    window = 1000 if case == "over the window" else 8192
    buffer = 10 if case == "tiny buffer" else 200
    with pytest.raises(error):
        run_niah(target(model, window), hay, Grid((500, 2000), (0, 100)), buffer_tokens=buffer)
    assert model.calls == []


def test_shuffled_haystack_uses_the_same_sentences_in_another_order():
    hay = Haystack.from_texts(["A one. B two. C three. D four. E five. F six."])
    coherent, shuffled = hay.sentences("coherent", 0), hay.sentences("shuffled", 1)
    assert sorted(coherent) == sorted(shuffled) and coherent != shuffled
    assert hay.sentences("shuffled", 1) == shuffled


def test_haystack_load_reads_a_directory_in_name_order(tmp_path):
    (tmp_path / "b.txt").write_text("Second.")
    (tmp_path / "a.md").write_text("First.")
    (tmp_path / "skip.bin").write_bytes(b"\0")
    assert Haystack.load(tmp_path).sentences("coherent", 0) == ["First.", "Second."]
    with pytest.raises(UsageError):
        Haystack.load(tmp_path / "missing")


def test_concurrent_remote_calls_give_the_sequential_results(hay):
    grid = Grid((400, 800), (0, 50, 100), (0, 1))
    one = run_niah(target(ScriptedChatModel([reader(300)], repeat_last=True)), hay, grid)
    many = run_niah(target(ScriptedChatModel([reader(300)], repeat_last=True)), hay, grid, concurrency=4)
    assert [(r.cell_id, r.score) for r in one.results] == [(r.cell_id, r.score) for r in many.results]


def test_the_judge_is_reported_apart_and_added_to_finished_cells(hay, tmp_path):
    out = tmp_path / "r.jsonl"
    grid = Grid((400,), (0, 100))
    run_niah(target(ScriptedChatModel([reader()], repeat_last=True)), hay, grid, out=out)
    judge = ScriptedChatModel(["7"], repeat_last=True)
    results = run_niah(target(ScriptedChatModel(["unused"])), hay, grid, out=out, judge=judge)
    assert [r.judge_score for r in results.results] == [pytest.approx(6 / 9)] * 2
    assert [r.score for r in results.results] == [1.0, 1.0] and len(judge.calls) == 2
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 4


def test_curve_intervals_span_the_seeds():
    hay = Haystack.from_texts([FILLER, FILLER.replace("number", "No.")])

    def by_seed(messages):
        return reader()(messages) if "number 0 " in messages[-1].text[:200] else "no"
    results = run_niah(target(ScriptedChatModel([by_seed], repeat_last=True)), hay, Grid((400,), (50,), (0, 1, 2)))
    point = results.curve("raw")[0]
    assert point.seeds == 3 and point.low < point.mean < point.high


def test_answer_prefix_ends_the_prompt_and_makes_new_cells(hay):
    model = ScriptedChatModel([reader()], repeat_last=True)
    plain = NiahRun(target(model), hay, Grid((400,), (50,)), [multi_key(2)])
    primed = NiahRun(target(model), hay, Grid((400,), (50,)), [multi_key(2)], answer_prefix=True)
    assert {c.id for c in plain.plan()}.isdisjoint(c.id for c in primed.plan())
    primed.run()
    prompt = model.calls[-1][0][-1].text
    assert prompt.endswith("Answer: " + multi_key(2).answer_prefix)
    assert multi_key(2).answer_prefix.startswith("The special magic number for ")


def _priced_as(model_name, messages, response):
    from contextwise.models import cost
    from contextwise.tokens import TokenCounter
    from contextwise.types import Usage

    counter = TokenCounter.for_model(model_name)
    return cost(Usage(input_tokens=counter.messages(messages), output_tokens=counter.count(response)),
                model_name).total_usd


def test_each_cell_is_priced_as_the_named_catalog_model_in_its_own_tokenizer(hay):
    from contextwise.evals.niah import Target

    model = ScriptedChatModel([reader()], repeat_last=True)
    free = Target(model, "local-like", FakeTokenizer(), "fake", 8192, True, "gpt-4o-mini")
    results = run_niah(free, hay, Grid((400, 800), (0, 100)), [classic()])
    for result, (messages, _, _) in zip(results.results, model.calls):
        assert result.cost_usd == 0.0 and result.price_model == "gpt-4o-mini"
        assert result.priced_usd == pytest.approx(_priced_as("gpt-4o-mini", messages, result.response))
    (summary,) = results.summary()
    assert summary.cost_usd == 0.0 and summary.price_model == "gpt-4o-mini"
    assert summary.priced_usd == pytest.approx(sum(r.priced_usd for r in results.results)) and summary.priced_usd > 0
    dearer = run_niah(Target(model, "local-like", FakeTokenizer(), "fake", 8192, True, "gpt-4o"), hay,
                      Grid((400, 800), (0, 100)), [classic()]).summary()[0]
    assert dearer.priced_usd > summary.priced_usd  # the same tokens at gpt-4o's higher list price


def test_finished_cells_are_repriced_without_asking_the_model_again(hay, tmp_path):
    out = tmp_path / "r.jsonl"
    grid = Grid((400,), (0, 50, 100))
    first = run_niah(target(ScriptedChatModel([reader()], repeat_last=True)), hay, grid, out=out)
    assert {r.price_model for r in first.results} == {None} and first.summary()[0].priced_usd is None
    idle = ScriptedChatModel(["never asked"])
    priced = run_niah(describe(idle, tokenizer=FakeTokenizer(), window_tokens=8192, price_model="gpt-4o-mini"),
                      hay, grid, out=out)
    assert idle.calls == [] and [r.response for r in priced.results] == [r.response for r in first.results]
    fresh = ScriptedChatModel([reader()], repeat_last=True)
    direct = run_niah(describe(fresh, tokenizer=FakeTokenizer(), window_tokens=8192, price_model="gpt-4o-mini"),
                      hay, grid)
    assert [r.priced_usd for r in priced.results] == pytest.approx([r.priced_usd for r in direct.results])
    assert {r.cell_id for r in NiahResults.read(out).results} == {r.cell_id for r in first.results}
    assert all(r.price_model == "gpt-4o-mini" for r in NiahResults.read(out).results)


def test_an_unknown_price_model_is_refused_before_any_call():
    with pytest.raises(UsageError, match="catalog"):
        describe(ScriptedChatModel(["x"]), tokenizer=FakeTokenizer(), window_tokens=8192, price_model="no-such-llm")


def test_the_table_shows_the_cost_as_the_named_model(hay, tmp_path):
    from rich.console import Console

    from contextwise.cli import _niah

    model = ScriptedChatModel([reader()], repeat_last=True)
    results = run_niah(describe(model, tokenizer=FakeTokenizer(), window_tokens=8192, price_model="gpt-4o-mini"),
                       hay, Grid((400,), (0, 100)), [classic()])
    table = _niah.markdown(results, 0.856)
    assert "| cost $ | as gpt-4o-mini $ |" in table
    row = next(line for line in table.splitlines() if line.startswith("| raw |"))
    assert f"{results.summary()[0].priced_usd:.6f}" in row
    console = Console(record=True, width=200)
    console.print(_niah.summary_table(results, 0.856))
    assert "as gpt-4o-mini $" in console.export_text()
    _niah.write_outputs(results, tmp_path, 0.856, "t", console)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["price_model"] == "gpt-4o-mini"
    assert any(m["metric"] == "priced_usd" for m in summary["metrics"])
