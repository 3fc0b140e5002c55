"""Image token rules per model family: what an image part costs in prompt tokens.

Each rule is a small frozen strategy object with `tokens(part) -> int`. A part without a size is priced as the
largest image the provider accepts, and OpenAI's "auto" detail as "high", so a budget is never under-counted.
Which model takes which rule, with which figures, is data (`models/families.toml`, from the providers' vision
pricing pages); the classes hold the formulas.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from contextwise.tokens._families import families, rule_from
from contextwise.types import ImagePart


def _fit_within(width: int, height: int, longest_px: int) -> tuple[float, float]:
    scale = min(1.0, longest_px / max(width, height))
    return width * scale, height * scale


@dataclass(frozen=True)
class TileImageRule:
    """OpenAI's tile formula: fit in 2048x2048, shortest side to at most 768, then `base + tile * 512px tiles`.

    >>> TileImageRule(85, 170).tokens(ImagePart("x", "high", 1024, 1024))
    765
    """

    base_tokens: int
    tile_tokens: int

    def tokens(self, part: ImagePart) -> int:
        """Tokens for one image part."""
        if part.detail == "low":
            return self.base_tokens
        if not (part.width and part.height):
            return self.base_tokens + self.tile_tokens * 8  # 2048x768 after scaling: 4 x 2 tiles, the most
        width, height = _fit_within(part.width, part.height, 2048)
        shrink = min(1.0, 768 / min(width, height))
        tiles = math.ceil(width * shrink / 512) * math.ceil(height * shrink / 512)
        return self.base_tokens + self.tile_tokens * tiles


@dataclass(frozen=True)
class PatchImageRule:
    """OpenAI's patch formula (gpt-4.1-mini/nano, gpt-5-mini/nano, o4-mini): 32px patches, at most 1536, times a
    per-model multiplier.

    >>> PatchImageRule(1.0).tokens(ImagePart("x", "high", 1800, 2400))
    1452
    """

    multiplier: float
    max_patches: int = 1536

    def patches(self, width: int, height: int) -> int:
        """Patches covering the image after OpenAI's downscale to the patch cap."""
        count = math.ceil(width / 32) * math.ceil(height / 32)
        if count <= self.max_patches:
            return count
        shrink = math.sqrt(32 * 32 * self.max_patches / (width * height))
        # Exact fractions from here on: the scaled sides land on whole patches and must not round up.
        exact = min(Fraction(math.floor(width * shrink / 32) * 32, width),
                    Fraction(math.floor(height * shrink / 32) * 32, height))
        count = math.ceil(width * exact / 32) * math.ceil(height * exact / 32)
        return min(count, self.max_patches)

    def tokens(self, part: ImagePart) -> int:
        """Tokens for one image part (detail does not change the patch formula)."""
        patches = self.patches(part.width, part.height) if part.width and part.height else self.max_patches
        return math.ceil(patches * self.multiplier)


@dataclass(frozen=True)
class AreaImageRule:
    """Anthropic's rule: about width * height / 750 tokens, after scaling to a long edge of at most 1568 px;
    images above about 1,600 tokens are scaled down to it.

    >>> AreaImageRule().tokens(ImagePart("x", "auto", 1000, 1000))
    1334
    """

    pixels_per_token: int = 750
    longest_px: int = 1568
    max_tokens: int = 1600

    def tokens(self, part: ImagePart) -> int:
        """Tokens for one image part."""
        if not (part.width and part.height):
            return self.max_tokens
        width, height = _fit_within(part.width, part.height, self.longest_px)
        return min(self.max_tokens, math.ceil(width * height / self.pixels_per_token))


@dataclass(frozen=True)
class GeminiImageRule:
    """Google's Gemini 2.x rule: 258 tokens for an image up to 384x384, else 258 per 768x768 tile.

    >>> GeminiImageRule().tokens(ImagePart("x", "auto", 1000, 1000))
    1032
    """

    tile_tokens: int = 258
    small_px: int = 384
    tile_px: int = 768
    unknown_size_tokens: int = 1120  # Gemini 3's "high" media resolution, the largest fixed figure documented

    def tokens(self, part: ImagePart) -> int:
        """Tokens for one image part."""
        if not (part.width and part.height):
            return self.unknown_size_tokens
        if part.width <= self.small_px and part.height <= self.small_px:
            return self.tile_tokens
        return self.tile_tokens * math.ceil(part.width / self.tile_px) * math.ceil(part.height / self.tile_px)


ImageRule = TileImageRule | PatchImageRule | AreaImageRule | GeminiImageRule

_KINDS: dict[str, type[ImageRule]] = {"tile": TileImageRule, "patch": PatchImageRule, "area": AreaImageRule,
                                      "gemini": GeminiImageRule}


def image_rule_from(spec: Mapping[str, Any]) -> ImageRule:
    """An image rule from its data-file spec (`{kind = "tile", base_tokens = 85, tile_tokens = 170}`)."""
    return rule_from(_KINDS, spec, "image rule")


@functools.lru_cache(maxsize=1)
def _openai_rules() -> tuple[tuple[tuple[str, ImageRule], ...], ImageRule]:
    table = families().openai_images
    rules = tuple((str(prefix), image_rule_from(spec)) for prefix, spec in table["prefixes"])
    return tuple(sorted(rules, key=lambda item: -len(item[0]))), image_rule_from(table["default"])


def openai_image_rule(model: str) -> ImageRule:
    """The image rule for an OpenAI model name (the data file's longest matching prefix, else its default).

    >>> openai_image_rule("gpt-4o-mini-2024-07-18").tile_tokens
    5667
    """
    bare = model.lower().rsplit("/", 1)[-1]
    rules, default = _openai_rules()
    return next((rule for prefix, rule in rules if bare.startswith(prefix)), default)
