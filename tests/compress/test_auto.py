"""Auto: the route follows the keep ratio; every route is exact."""

from __future__ import annotations

import pytest

from contextwise.compress import Auto, Extractive, Summarizer, TokenPruning
from contextwise.errors import UsageError
from contextwise.testing import ScriptedChatModel

TEXT = " ".join(f"Sentence {i} says the river is {i} metres deep near town {i}." for i in range(20))


@pytest.mark.parametrize(("ratio", "route"), [
    (1.2, "none"), (1.0, "none"), (0.9, "extractive"), (0.85, "extractive"), (0.75, "hybrid"), (0.5, "hybrid"),
    (0.3, "hybrid"), (0.1, "summarize"),
], ids=["over", "exact", "light", "above-threshold", "below-threshold", "medium", "boundary", "deep"])
def test_auto_chooses_by_keep_ratio(ratio, route):
    auto = Auto(summarizer=Summarizer(ScriptedChatModel(["x"])))
    assert auto.choose(ratio) == route


def test_auto_without_a_summarizer_stays_hybrid_for_deep_cuts():
    assert Auto().choose(0.05) == "hybrid"


def test_auto_with_extractive_above_zero_is_extractive_only():
    assert Auto(extractive_above=0.0).choose(0.05) == "extractive"


def test_auto_rejects_ratios_out_of_range():
    with pytest.raises(UsageError):
        Auto(extractive_above=1.5)
    with pytest.raises(UsageError):
        Auto(hybrid_slack=0.5)


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1], ids=["extractive", "hybrid", "summarize"])
def test_auto_routes_are_exact_and_say_which_ran(fake_tokenizer, surprisal_model, keep):
    model = ScriptedChatModel(["The river is deep. It is very deep near every town."], repeat_last=True)
    auto = Auto(pruning=TokenPruning(model=surprisal_model), summarizer=Summarizer(model))
    original = fake_tokenizer.count(TEXT)
    target = int(original * keep)
    out = auto.compress(TEXT, target, fake_tokenizer)
    assert out.tokens == fake_tokenizer.count(out.text) <= target
    assert out.original_tokens == original
    assert out.method == f"auto-{auto.choose(target / original)}"


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1], ids=["light", "medium", "deep"])
def test_auto_with_a_query_is_extractive_at_every_ratio_by_default(fake_tokenizer, surprisal_model, keep):
    auto = Auto(pruning=TokenPruning(model=surprisal_model), summarizer=Summarizer(ScriptedChatModel(["x"])))
    target = int(fake_tokenizer.count(TEXT) * keep)
    out = auto.compress(TEXT, target, fake_tokenizer, query="how deep is the river")
    assert out.method == "auto-extractive" and surprisal_model.calls == []
    assert Auto(extractive_above_with_query=0.7).choose(keep, has_query=True) == Auto().choose(keep)


def test_auto_hybrid_extracts_before_pruning(fake_tokenizer, surprisal_model):
    auto = Auto(extractive=Extractive(), pruning=TokenPruning(model=surprisal_model), hybrid_slack=1.5)
    target = fake_tokenizer.count(TEXT) // 2
    auto.compress(TEXT, target, fake_tokenizer)
    assert fake_tokenizer.count(surprisal_model.calls[0]) <= int(target * 1.5) + 1


def test_auto_to_zero_is_empty_without_calling_a_model(fake_tokenizer, surprisal_model):
    out = Auto(pruning=TokenPruning(model=surprisal_model)).compress(TEXT, 0, fake_tokenizer)
    assert (out.text, out.tokens) == ("", 0) and surprisal_model.calls == []


def test_auto_without_the_local_extra_falls_back_to_extractive_with_a_warning():
    # a fresh process in which llama_cpp cannot be imported, as without `pip install 'contextwise[local]'`
    import subprocess
    import sys

    code = ("import sys, warnings; sys.modules['llama_cpp'] = None\n"
            "from contextwise.compress import Auto, compress\n"
            "text = ' '.join(f'Fact {i} is that item {i} weighs {i * 3} grams.' for i in range(60))\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    out = compress(text, target_tokens=100, compressor=Auto())\n"
            "print(out.method, out.tokens <= 100, any('extractively' in str(w.message) for w in caught))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["auto-extractive", "True", "True"]


def test_auto_never_replaces_a_pruning_stage_it_was_given(fake_tokenizer):
    from contextwise.errors import MissingDependencyError

    class Unavailable:
        name = "unavailable"

        def compress(self, text, target_tokens, tokenizer, query=None):
            raise MissingDependencyError("this pruning", "local")

    with pytest.raises(MissingDependencyError):
        Auto(pruning=Unavailable()).compress("One two. Three four. Five six. " * 20, 10, fake_tokenizer)
