"""ImportanceWeighted and KeyMoments: what gets kept, heuristic and model scores."""

from __future__ import annotations

from history.history_helpers import make_counter, text

from contextwise.history import (
    Conversation,
    HeuristicScorer,
    KeyMoments,
    ImportanceWeighted,
    ModelScorer,
    ScoreRequest,
    SummaryRequest,
    TokenBased,
)
from contextwise.testing import ScriptedChatModel
from contextwise.types import Completion, Message

FACT = "Remember: my name is Ada and my flight is on 12 March."


def chat_with(manager, filler_turns: int = 30) -> Conversation:
    chat = Conversation(manager, counter=make_counter())
    chat.add(Message.user(FACT))
    chat.add(Message.assistant("ok"))
    for turn in range(filler_turns):
        chat.add(Message.user("ok thanks"))
        chat.add(Message.assistant("sure " + text(10, turn).lower().replace("42", "x")))
    return chat


def test_heuristic_scorer_ranks_facts_above_filler():
    scorer = HeuristicScorer()
    assert scorer.score([Message.user(FACT)]) > scorer.score([Message.user("sure the plan")]) \
        > scorer.score([Message.user("ok thanks")])


def test_importance_weighted_keeps_an_old_fact_a_recency_window_drops():
    chat = chat_with(ImportanceWeighted(half_life_turns=None))
    context = chat.context(200)
    assert chat.messages[0] in context
    assert context[-1] is chat.messages[-1]
    assert chat.counter.messages(context) <= 200


def test_importance_weighted_plans_nothing_with_heuristics():
    assert chat_with(ImportanceWeighted()).plan() is None


def test_model_scores_are_requested_in_batches_and_change_the_choice():
    heuristic = chat_with(ImportanceWeighted(half_life_turns=None), filler_turns=5)
    rated = chat_with(ImportanceWeighted(ModelScorer(batch_units=8), half_life_turns=None), filler_turns=5)
    request = rated.plan()
    assert isinstance(request, ScoreRequest) and len(request.unit_starts) == 8
    assert "[8]" in request.messages[-1].text
    while (request := rated.plan()) is not None:  # the model thinks the fact does not matter
        rated.apply(request, Completion("\n".join(f"{i}: {0 if s == 0 else 3}"
                                                  for i, s in enumerate(request.unit_starts, 1))))
    assert len(rated.notes.scores) == rated.transcript.unit_count and rated.notes.scores[0] == 0.0
    budget = rated.counter.messages([rated.messages[0], *rated.messages[-2:]]) + 10
    assert rated.messages[0] in heuristic.context(budget)
    assert rated.messages[0] not in rated.context(budget)


def test_unrated_units_in_a_reply_get_a_neutral_score():
    chat = chat_with(ImportanceWeighted(ModelScorer(batch_units=3)), filler_turns=1)
    request = chat.plan()
    chat.apply(request, Completion("2: 9\nnonsense"))
    scores = [chat.notes.scores[s] for s in request.unit_starts]
    assert scores == [0.5, 0.9, 0.5]


def test_hybrid_keeps_key_moments_beside_the_summary():
    chat = chat_with(KeyMoments(keep_recent_tokens=120, step_tokens=60, key_moments_share=0.2))
    chat.run(ScriptedChatModel(["they chatted"], repeat_last=True), max_requests=20)
    assert chat.notes.covered_end > 0
    context = chat.context(600)
    texts = [m.text for m in context]
    assert any("they chatted" in t for t in texts)
    assert FACT in texts
    assert texts.index(FACT) > next(i for i, t in enumerate(texts) if "they chatted" in t)
    assert context[-1] is chat.messages[-1]


def test_hybrid_with_model_scores_rates_before_summarising():
    chat = chat_with(KeyMoments(keep_recent_tokens=120, step_tokens=60, scorer=ModelScorer()))
    first = chat.plan()
    assert isinstance(first, ScoreRequest)
    chat.apply(first, Completion("1: 9"))
    assert isinstance(chat.plan(), (ScoreRequest, SummaryRequest))


def test_any_object_with_score_can_rank_units():
    class Pineapple:
        def score(self, messages):
            return 1.0 if any("pineapple" in m.text for m in messages) else 0.0

    chat = Conversation(ImportanceWeighted(Pineapple(), half_life_turns=None), counter=make_counter())
    note = Message.user("a short pineapple note")
    chat.add(note)
    for turn in range(20):
        chat.add(Message.user(f"question {turn}"))
        chat.add(Message.assistant(f"answer {turn}"))
    budget = chat.counter.messages([note, *chat.messages[-2:]])
    assert chat.context(budget) == [note, *chat.messages[-2:]]
    assert note not in TokenBased().context(chat.transcript, chat.notes, budget)
