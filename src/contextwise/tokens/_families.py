"""Model families from the data file `contextwise/models/families.toml`: tokenizer and framing by name prefix for
models the catalog does not list, tokenizer-id aliases, default framings, each framing's figures and OpenAI's image
rules. No prefix table or provider figure lives in code."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from importlib import resources
from collections.abc import Mapping
from typing import Any, TypeVar

from contextwise.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found]

T = TypeVar("T")


@dataclass(frozen=True)
class Families:
    """The family rules, each prefix list in the order it is tried."""

    checked_on: str
    aliases: dict[str, str]
    framing_by_tokenizer: dict[str, str]
    approximated_by_kin: tuple[str, ...]
    tokenizer_prefixes: tuple[tuple[str, str], ...]
    provider_prefixes: tuple[tuple[str, str], ...]
    openai_legacy_names: frozenset[str]
    openai_legacy_prefixes: tuple[str, ...]
    framings: dict[str, dict[str, Any]]
    framing_aliases: dict[str, str]
    openai_images: dict[str, Any]

    def tokenizer_for(self, bare: str) -> str | None:
        """The tokenizer id the first matching prefix names, or None."""
        return _first(self.tokenizer_prefixes, bare)

    def provider_for(self, bare: str) -> str | None:
        """The provider whose framing the first matching prefix names, or None."""
        return _first(self.provider_prefixes, bare)

    def openai_legacy(self, bare: str) -> bool:
        """Whether an OpenAI model is framed the pre-gpt-4o way."""
        return bare in self.openai_legacy_names or bare.startswith(self.openai_legacy_prefixes)


@functools.lru_cache(maxsize=1)
def families() -> Families:
    """The packaged family rules, read once."""
    raw: dict[str, Any] = tomllib.loads(
        resources.files("contextwise.models").joinpath("families.toml").read_text("utf-8"))
    tok, fr = raw["tokenizers"], raw["framings"]
    return Families(
        checked_on=str(raw["catalog"]["checked_on"]),
        aliases=dict(tok["aliases"]),
        framing_by_tokenizer=dict(tok["framing"]),
        approximated_by_kin=tuple(tok["approximated_by_kin"]),
        tokenizer_prefixes=tuple((str(p), str(t)) for p, t in tok["prefixes"]),
        provider_prefixes=tuple((str(p), str(v)) for p, v in fr["providers"]),
        openai_legacy_names=frozenset(fr["openai_legacy_names"]),
        openai_legacy_prefixes=tuple(fr["openai_legacy_prefixes"]),
        framings={str(name): dict(spec) for name, spec in raw["framing"].items()},
        framing_aliases=dict(raw["framing_aliases"]),
        openai_images=dict(raw["openai_images"]),
    )


def rule_from(kinds: Mapping[str, type[T]], spec: Mapping[str, Any], what: str) -> T:
    """A rule object from its data-file spec: `kind` picks the class in `kinds`, the other keys are its fields."""
    fields = dict(spec)
    kind = fields.pop("kind", None)
    if kind not in kinds:
        raise UsageError(f"{what} kind {kind!r}: expected one of {', '.join(kinds)}")
    return kinds[kind](**fields)


def _first(rules: tuple[tuple[str, str], ...], bare: str) -> str | None:
    return next((value for prefix, value in rules if bare.startswith(prefix)), None)
