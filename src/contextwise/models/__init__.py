"""The model catalog: context windows, output caps, tokenizers and prices (cached input included), and `cost()`.

The figures live in a data file shipped with the package (`catalog.toml`). Each entry carries `checked_on`: the
date its figures are known to reflect, never the date the file was last edited. The shipped figures were compared
on 2026-11-25 with litellm 1.110.2's price and context-window table (MIT; `tools/compare_catalog.py` repeats the
comparison against any newer litellm wheel); models that table no longer lists keep the date their figures were
written from the providers' pages (2025-11-01). Prices change: correct them with your own file, which merges over
the shipped one field by field, e.g. `my-models.toml`:

    [catalog]
    checked_on = 2026-02-01            # applies to the entries below that change prices or limits

    [models."gpt-4o".prices]           # an existing model (or any alias of it): only these fields change
    input_usd_per_mtok = 2.00

    [models."acme-large"]              # a new model: starts from [providers.<provider>] defaults, if any
    provider = "acme"
    context_window_tokens = 65536
    max_output_tokens = 8192
    tokenizer = "cl100k_base"
    prices = { input_usd_per_mtok = 1.0, output_usd_per_mtok = 3.0, cached_input_usd_per_mtok = 0.25 }

and name it in CONTEXTWISE_MODELS=path[:path] (os.pathsep), `Catalog.load(path)` or
`catalog.with_overrides(path_or_mapping)`. A bad value raises CatalogError naming the file and the field.

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
