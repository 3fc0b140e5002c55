"""The one relevance/recency weighting: a score is the weighted mean of components in [0, 1], recency decays
exponentially with a half-life. Documents (relevance, recency, authority) and memory (relevance, recency,
importance) name their third component differently and share everything else through `Weighting`."""

from __future__ import annotations

import math

from contextwise.errors import UsageError

DAY_S = 86_400.0


class Weighting:
    """Mixin for frozen weight dataclasses: `components` names the weight fields in the order `combine` takes
    their scores; the class has a `half_life_s` field."""

    components: tuple[str, ...]
    half_life_s: float

    def check(self) -> None:
        """Raise UsageError unless the weights are finite, >= 0, not all 0, and `half_life_s` > 0."""
        weights = self.weights()
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            named = ", ".join(f"{n}={w}" for n, w in zip(self.components, weights))
            raise UsageError(f"{type(self).__name__} weights must be finite, >= 0 and not all 0, got {named}")
        if not (isinstance(self.half_life_s, (int, float)) and self.half_life_s > 0):
            raise UsageError(f"half_life_s must be > 0, got {self.half_life_s!r}")

    def weights(self) -> tuple[float, ...]:
        """The weights, in `components` order."""
        return tuple(float(getattr(self, name)) for name in self.components)

    def decay(self, age_s: float) -> float:
        """1 for something new, 0.5 at `half_life_s`, 0.25 at twice that (a negative age counts as new)."""
        return float(0.5 ** (max(age_s, 0.0) / self.half_life_s))

    def combine(self, *scores: float) -> float:
        """The weighted mean of the component scores, given in `components` order."""
        weights = self.weights()
        if len(scores) != len(weights):
            raise UsageError(f"{type(self).__name__}.combine takes {len(weights)} scores "
                             f"({', '.join(self.components)}), got {len(scores)}")
        return sum(w * s for w, s in zip(weights, scores)) / sum(weights)
