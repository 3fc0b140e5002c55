"""The model catalog: context windows, output caps, tokenizers and prices (cached input included), and `cost()`.

The figures live in a data file shipped with the package (`catalog.toml`), each entry with the date its figures
are known to reflect (`checked_on`). Add or correct models with a file named in CONTEXTWISE_MODELS, with
`Catalog.load(path)`, or with `catalog.with_overrides(path_or_mapping)`.

>>> from contextwise.models import cost, get_model
>>> from contextwise.types import Usage
>>> get_model("openai/gpt-4o-2024-08-06").name
'gpt-4o'
>>> round(cost(Usage(input_tokens=2_000, output_tokens=500), "gpt-4o-mini").total_usd, 6)
0.0006
"""

from __future__ import annotations

from contextwise.models._catalog import ENV_VAR, Catalog, default_catalog, get_model
from contextwise.models._cost import Cost, cost
from contextwise.models._types import TOKENIZERS, CatalogError, ModelInfo, Prices, PriceTier

__all__ = [
    "ENV_VAR", "TOKENIZERS", "Catalog", "CatalogError", "Cost", "ModelInfo", "PriceTier", "Prices", "cost",
    "default_catalog", "get_model",
]
