"""Empirical bias correction of an int8 (QDQ) ONNX model against its fp32 original (:func:`correct_biases`).

``scalp_models.quantize`` runs it on every int8 copy it builds, after ONNX Runtime's static
quantization; ``int8_exclusions.json`` says on how many calibration photos, and why.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np

from scalp_models.onnx_graph import INPUT_NAME, create_session


def reference_tensor(fp32_producers: dict, name: str) -> str | None:
    """The fp32 tensor an int8 Conv output stands for: QDQ drops the ReLU6/ReLU after a Conv (the
    output's quantization range clips instead) and gives the Conv the activation's output name, so
    the matching fp32 tensor is that activation's input, before clipping."""
    node = fp32_producers.get(name)
    if node is not None and node.op_type in ("Clip", "Relu"):
        source = fp32_producers.get(node.input[0])
        return node.input[0] if source is not None and source.op_type == "Conv" else None
    return name if node is not None and node.op_type == "Conv" else None


def correct_biases(fp32_model, int8_model, batches: Callable[[int], Iterable[np.ndarray]], batch: int) -> int:
    """Empirical bias correction of ``int8_model`` (a QDQ copy of ``fp32_model``), in place; returns how
    many Conv biases it changed. ``batches(n)`` yields the model inputs of the photos to measure on,
    ``n`` photos at a time; the int8 model runs ``batch`` at a time (the fp32 one, one photo at a time).

    Rounding weights and activations to 8 bits shifts each convolution's mean output per channel:
    rounding a 3×3 depthwise filter changes its sum, which smooth regions of a photo multiply, and
    small ReLU6 outputs round to zero more than away from it. These shifts add up through the
    network. In network order, each quantized Conv's per-channel mean output on those photos is
    measured in both models, and the difference is added to its int32 bias (whose scale is
    unchanged, so ONNX Runtime still fuses it into QLinearConv). Each Conv is measured after the
    ones before it are corrected (Nagel et al., 2019, "Data-Free Quantization", §4.2, empirical).
    """
    import onnx
    from onnx import numpy_helper

    graph = int8_model.graph
    fp32_producers = {out: node for node in fp32_model.graph.node for out in node.output}
    int8_producers = {out: node for node in graph.node for out in node.output}
    initializers = {init.name: init for init in graph.initializer}
    uses = Counter(name for node in graph.node for name in node.input)

    def dequantized_initializer(name: str):
        node = int8_producers.get(name)
        ok = node is not None and node.op_type == "DequantizeLinear" and node.input[0] in initializers
        return node if ok and node.input[1] in initializers else None

    targets = []  # (int8 output name, fp32 reference name, bias initializer, bias scale)
    for node in list(graph.node):
        if node.op_type != "Conv" or len(node.input) < 3 or dequantized_initializer(node.input[1]) is None:
            continue  # not quantized: kept fp32
        bias = dequantized_initializer(node.input[2])
        reference = reference_tensor(fp32_producers, node.output[0])
        if bias is None or reference is None:
            continue  # no int32 bias, or nothing to compare the output with
        if uses[node.input[2]] > 1 or uses[bias.input[0]] > 1:  # the exporter shares equal tensors: untie it
            private = numpy_helper.from_array(numpy_helper.to_array(initializers[bias.input[0]]),
                                              f"{bias.input[0]}_of_{len(targets)}_corrected")
            graph.initializer.append(private)
            initializers[private.name] = graph.initializer[-1]
            untied = onnx.NodeProto()
            untied.CopyFrom(bias)  # same scale, zero point and axis
            untied.input[0], untied.output[0], untied.name = private.name, f"{private.name}_dq", f"{private.name}_dq"
            graph.node.insert(list(graph.node).index(node), untied)
            node.input[2], bias = untied.output[0], untied
        targets.append((node.output[0], reference, initializers[bias.input[0]],
                        numpy_helper.to_array(initializers[bias.input[1]]).astype(np.float64)))
    if not targets:
        return 0

    def channel_means(model, names: list[str], batch: int) -> list[np.ndarray]:
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        present = {out.name for out in probe.graph.output}
        probe.graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
                                  for name in dict.fromkeys(names) if name not in present)
        session = create_session(probe.SerializeToString(), threads=max(1, min(2, os.cpu_count() or 1)))
        sums, counts = [0.0] * len(names), [0] * len(names)
        for pixels in batches(batch):
            for i, value in enumerate(session.run(names, {INPUT_NAME: pixels})):
                sums[i] = sums[i] + value.astype(np.float64).sum(axis=(0, *range(2, value.ndim)))
                counts[i] += value.size // value.shape[1]
        return [total / count for total, count in zip(sums, counts)]

    # every Conv output at once, one photo a run: a 600 px b1 model's are ~150 MB per photo
    wanted = channel_means(fp32_model, [reference for _, reference, _, _ in targets], batch=1)
    for (output, _, bias, scale), target in zip(targets, wanted):
        [got] = channel_means(int8_model, [output], batch=batch)
        steps = np.divide(target - got, scale, out=np.zeros_like(scale), where=scale > 0)  # 0: a dead channel
        quantized = numpy_helper.to_array(bias).astype(np.int64) + np.round(steps).astype(np.int64)
        info = np.iinfo(np.int32)
        bias.CopyFrom(numpy_helper.from_array(np.clip(quantized, info.min, info.max).astype(np.int32), bias.name))
    return len(targets)
