"""int8 graphs whose scores do not depend on batch-mates: per-row activations, per-channel weights.

onnxruntime's dynamic quantisation takes one activation scale for a whole input tensor, so a
text's score moved with the other texts and the padding in its batch (``continue`` scored 0.819
alone and 0.863 beside three short texts), and the stream's adaptive batches follow the load.
Here every MatMul against a weight matrix quantises each row of its input (one token) on its own,
symmetric around a fixed zero point, so a row's integer product is exact and the same in any
batch. Weights are int8 per output channel; the word-embedding table is int8 per row. Measured
on 2 cores at the stream's batch sizes (starter encoder): fp32 42.6, dynamic int8 82.1, this
65.8 texts/s; mean |logit - fp32| 0.081 for dynamic int8, 0.041 for this.

Build time only (needs ``onnx``); the runtime just loads the resulting graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# uint8 activations around a fixed zero point: the u8 x s8 kernels are the fast ones on x86
# (an int8 x int8 product ran 5 times slower on the same machine).
ZERO_POINT = 128
LEVELS = 127.0


def _weight_int8(weight: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 along ``axis`` (the reduced axis): scales per remaining index."""
    scale = np.maximum(np.abs(weight).max(axis=axis), 1e-12) / LEVELS
    shaped = np.expand_dims(scale, axis)
    quantized = np.clip(np.round(weight / shaped), -LEVELS, LEVELS).astype(np.int8)
    return quantized, scale.astype(np.float32)


def quantize_rows(source: Path, target: Path) -> dict[str, int]:
    """Write the batch-invariant int8 version of ``source``; returns what was quantised."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    weights = {item.name: item for item in graph.initializer}
    nodes: list = []
    added: list = []
    rows_of: dict[str, tuple[str, str]] = {}  # activation -> (quantised, per-row scale)
    counts = {"matmul": 0, "gather": 0}

    def constant(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(value, name))
        return name

    eps = constant("rowq/eps", np.array(1e-8, np.float32))
    inv_levels = constant("rowq/inv_levels", np.array(1.0 / LEVELS, np.float32))
    one = constant("rowq/one", np.array(1.0, np.float32))
    zero_point = constant("rowq/zero_point", np.array(ZERO_POINT, np.uint8))

    def quantized_rows(activation: str) -> tuple[str, str]:
        if activation not in rows_of:
            p = f"rowq/{len(rows_of)}"
            nodes.extend(
                [
                    helper.make_node("Abs", [activation], [f"{p}/abs"]),
                    helper.make_node(
                        "ReduceMax", [f"{p}/abs"], [f"{p}/max"], axes=[-1], keepdims=1
                    ),
                    helper.make_node("Max", [f"{p}/max", eps], [f"{p}/max_safe"]),
                    helper.make_node("Mul", [f"{p}/max_safe", inv_levels], [f"{p}/scale"]),
                    helper.make_node("Div", [activation, f"{p}/scale"], [f"{p}/scaled"]),
                    helper.make_node(
                        "QuantizeLinear", [f"{p}/scaled", one, zero_point], [f"{p}/q"]
                    ),
                ]
            )
            rows_of[activation] = (f"{p}/q", f"{p}/scale")
        return rows_of[activation]

    for node in graph.node:
        weight = weights.get(node.input[1]) if len(node.input) > 1 else None
        if node.op_type == "MatMul" and weight is not None and len(weight.dims) == 2:
            matrix = numpy_helper.to_array(weight).astype(np.float32)
            q_weight, w_scale = _weight_int8(matrix, axis=0)
            w_name = constant(f"{weight.name}/int8", q_weight)
            s_name = constant(f"{weight.name}/scale", w_scale)
            q_rows, row_scale = quantized_rows(node.input[0])
            out = node.output[0]
            nodes.extend(
                [
                    # onnxruntime's MatMulIntegerToFloat: the integer product, its cast and the
                    # per-channel weight scale in one kernel (the same floats as MatMulInteger,
                    # Cast and Mul: every score bit for bit on 400 held-out texts), 7-8% faster
                    # on the whole graph than the three nodes on an AVX2 CPU.
                    helper.make_node(
                        "MatMulIntegerToFloat",
                        [q_rows, w_name, one, s_name, zero_point],
                        [f"{out}/w"],
                        domain="com.microsoft",
                    ),
                    helper.make_node("Mul", [f"{out}/w", row_scale], [out]),
                ]
            )
            counts["matmul"] += 1
            continue
        table = weights.get(node.input[0]) if node.input else None
        if (
            node.op_type == "Gather"
            and table is not None
            and len(table.dims) == 2
            and table.dims[0] > 1000  # the word-embedding table, not the small ones
        ):
            matrix = numpy_helper.to_array(table).astype(np.float32)
            q_table, row_scales = _weight_int8(matrix, axis=1)
            t_name = constant(f"{table.name}/int8", q_table)
            s_name = constant(f"{table.name}/row_scale", row_scales.reshape(-1, 1))
            out, ids = node.output[0], node.input[1]
            axis = [helper.make_attribute("axis", 0)]
            gather_q = helper.make_node("Gather", [t_name, ids], [f"{out}/int8"])
            gather_s = helper.make_node("Gather", [s_name, ids], [f"{out}/scale"])
            gather_q.attribute.extend(axis)
            gather_s.attribute.extend(axis)
            nodes.extend(
                [
                    gather_q,
                    gather_s,
                    helper.make_node("Cast", [f"{out}/int8"], [f"{out}/f"], to=TensorProto.FLOAT),
                    helper.make_node("Mul", [f"{out}/f", f"{out}/scale"], [out]),
                ]
            )
            counts["gather"] += 1
            continue
        nodes.append(node)

    used = {name for node in nodes for name in node.input}
    kept = [item for item in graph.initializer if item.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + [item for item in added if item.name in used])
    if counts["matmul"] and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return counts
