"""Image token rules reproduce the providers' documented worked examples and never under-count unknown sizes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.tokens import (
    AreaImageRule,
    GeminiImageRule,
    PatchImageRule,
    TileImageRule,
    framing_for,
)
from contextwise.types import ImagePart


def img(width: int | None, height: int | None, detail: str = "high") -> ImagePart:
    return ImagePart("https://example.invalid/i.png", detail, width, height)  # type: ignore[arg-type]


# OpenAI's vision guide: 1024x1024 high -> 765; 2048x4096 high -> 1105; any low -> 85 (gpt-4o).
@pytest.mark.parametrize(("part", "tokens"), [(img(1024, 1024), 765), (img(2048, 4096), 1105),
                                              (img(4096, 8192, "low"), 85), (img(512, 512), 255)])
def test_tile_rule_matches_openai_examples(part: ImagePart, tokens: int) -> None:
    assert TileImageRule(85, 170).tokens(part) == tokens


# OpenAI's guide for patch models: 1024x1024 -> 1024 patches; 1800x2400 -> 1452 patches.
@pytest.mark.parametrize(("size", "patches"), [((1024, 1024), 1024), ((1800, 2400), 1452), ((32, 32), 1)])
def test_patch_rule_matches_openai_examples(size: tuple[int, int], patches: int) -> None:
    assert PatchImageRule(1.0).patches(*size) == patches
    assert PatchImageRule(1.62).tokens(img(*size)) == -(-patches * 162 // 100)


@settings(max_examples=200, deadline=None)
@given(w=st.integers(1, 20_000), h=st.integers(1, 20_000))
def test_patch_rule_stays_under_the_cap_and_unknown_size_is_the_maximum(w: int, h: int) -> None:
    rule = PatchImageRule(1.0)
    assert 1 <= rule.patches(w, h) <= 1536
    assert rule.tokens(img(w, h)) <= rule.tokens(img(None, None))


@settings(max_examples=200, deadline=None)
@given(w=st.integers(1, 20_000), h=st.integers(1, 20_000))
def test_every_rule_prices_an_unknown_size_at_least_as_high_as_any_known_one(w: int, h: int) -> None:
    for rule in (TileImageRule(85, 170), AreaImageRule(), PatchImageRule(1.72)):
        assert rule.tokens(img(w, h)) <= rule.tokens(img(None, None))


def test_anthropic_area_rule() -> None:
    assert AreaImageRule().tokens(img(1000, 1000)) == 1334  # 1,000,000 / 750, rounded up
    assert AreaImageRule().tokens(img(200, 200)) == 54
    assert AreaImageRule().tokens(img(8000, 8000)) == 1600  # scaled down to the cap


def test_gemini_rule() -> None:
    assert GeminiImageRule().tokens(img(384, 384)) == 258
    assert GeminiImageRule().tokens(img(1536, 800)) == 258 * 2 * 2


@pytest.mark.parametrize(("model", "rule"), [
    ("gpt-4o", TileImageRule(85, 170)), ("gpt-4o-mini", TileImageRule(2833, 5667)), ("gpt-5", TileImageRule(70, 140)),
    ("o3", TileImageRule(75, 150)), ("gpt-4.1-mini", PatchImageRule(1.62)), ("gpt-4.1-nano", PatchImageRule(2.46)),
    ("o4-mini", PatchImageRule(1.72)), ("gpt-5-mini", PatchImageRule(1.62)), ("claude-sonnet-4-5", AreaImageRule()),
    ("gemini-2.5-pro", GeminiImageRule()),
])
def test_models_get_their_familys_image_rule(model: str, rule) -> None:
    assert framing_for(model).image_rule == rule
