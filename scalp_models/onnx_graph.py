"""ONNX graphs without PyTorch: the runtime session every backend uses, and the graph rewrites that
change no output (identity gates, zero pads). ``scalp_models.onnx_backend`` exports and serves with
them; ``scalp_models.quantize`` quantizes with them in a child process that never imports torch.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

INPUT_NAME, OUTPUT_NAME = "pixel_values", "logits"


def create_session(path: Path | bytes, threads: int = 1, profile_prefix: str | None = None):
    """An ONNX Runtime CPU session for a file (or a serialized model), ``threads`` intra-op threads;
    ``profile_prefix``: also record ONNX Runtime's per-node profile there (``session.end_profiling()``)."""
    import onnxruntime as ort  # heavy, and optional: the diagnoser falls back to PyTorch without it

    options = ort.SessionOptions()
    if profile_prefix is not None:
        options.enable_profiling, options.profile_file_prefix = True, profile_prefix
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning pool threads burn a shared machine's cores between requests.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def simplify_export(path: Path) -> dict[str, int]:
    """Rewrite an exported ``.onnx`` file in place without work that changes no output: identity gates
    (:func:`fold_constant_gates`), and zero ``Pad`` nodes in front of convolutions (:func:`fold_zero_pads`,
    once ONNX Runtime's basic constant folding has turned their computed amounts into constants).
    Returns how many of each were removed."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    gates = fold_constant_gates(model)
    with tempfile.TemporaryDirectory(dir=Path(path).parent, prefix=".simplify-") as tmp:
        folded = Path(tmp) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # standard ONNX ops only
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        optimized = onnx.load(str(folded))
    pads = fold_zero_pads(optimized)
    if pads or gates:  # one write, of the ORT-folded graph only when it had Pads to merge
        onnx.save(optimized if pads else model, str(path))
    return {"gates": gates, "pads": pads}


def fold_zero_pads(model) -> int:
    """Merge each constant-zero ``Pad`` of H and W only into the ``pads`` of the one Conv it feeds
    (transformers' EfficientNet pads its stride-2 convolutions itself, "same"-style, and ONNX Runtime
    leaves those Pads as separate passes over the activations); returns how many were merged."""
    from onnx import helper, numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    users: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    outputs = {o.name for o in model.graph.output}
    merged = 0
    for pad in [n for n in model.graph.node if n.op_type == "Pad"]:
        consumers = users.get(pad.output[0], [])
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        value = pad.input[2] if len(pad.input) > 2 else ""
        if (len(consumers) != 1 or consumers[0].op_type != "Conv" or pad.output[0] in outputs or mode != b"constant"
                or len(pad.input) < 2 or pad.input[1] not in inits or (len(pad.input) > 3 and pad.input[3])
                or (value and (value not in inits or numpy_helper.to_array(inits[value]).any()))):
            continue
        amounts = numpy_helper.to_array(inits[pad.input[1]]).astype(np.int64)
        if amounts.shape != (8,) or amounts[[0, 1, 4, 5]].any() or (amounts < 0).any():
            continue  # only N, C, H, W pads, none on N or C, none negative (a crop)
        conv = consumers[0]
        attrs = {a.name: a for a in conv.attribute}
        if attrs.get("auto_pad") is not None and attrs["auto_pad"].s not in (b"NOTSET", b"VALID"):
            continue
        old = list(attrs["pads"].ints) if "pads" in attrs else [0, 0, 0, 0]
        new = [old[0] + amounts[2], old[1] + amounts[3], old[2] + amounts[6], old[3] + amounts[7]]
        for name in ("pads", "auto_pad"):
            if name in attrs:
                conv.attribute.remove(attrs[name])
        conv.attribute.append(helper.make_attribute("pads", [int(v) for v in new]))
        conv.input[0] = pad.input[0]
        merged += 1
    if merged:
        prune(model)
    return merged


def fold_constant_gates(model) -> int:
    """Remove ``x · sigmoid(conv(…))`` gates whose conv weights are all zero and whose gate is exactly 1.0
    in float32 (Lite0's identity squeeze-excite); returns how many were removed. Pure graph surgery:
    the outputs stay bit-identical."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}

    def constant(name: str):
        """The initializer behind ``name``, through the Identity nodes the exporter puts in front of
        deduplicated weights (every all-zero gate of one shape shares a single tensor), or None."""
        while name not in inits and name in producer and producer[name].op_type == "Identity":
            name = producer[name].input[0]
        return inits.get(name)

    removed = {}
    for node in model.graph.node:
        if node.op_type != "Mul":
            continue
        for gate_input, other in ((node.input[1], node.input[0]), (node.input[0], node.input[1])):
            sigmoid = producer.get(gate_input)
            conv = producer.get(sigmoid.input[0]) if sigmoid is not None and sigmoid.op_type == "Sigmoid" else None
            if conv is None or conv.op_type != "Conv" or len(conv.input) < 3:
                continue
            tensors = [constant(name) for name in conv.input[1:3]]
            if any(t is None for t in tensors):
                continue
            weight, bias = (numpy_helper.to_array(t) for t in tensors)
            gate = (1.0 / (1.0 + np.exp(-bias.astype(np.float64)))).astype(np.float32)
            if not weight.any() and (gate == 1.0).all():
                removed[node.output[0]] = other
                break
    if not removed:
        return 0
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            while name in removed:  # a gate right after another gate: follow both
                name = removed[name]
            node.input[i] = name
    prune(model)
    return len(removed)


def prune(model) -> None:
    """Drop nodes (and initializers) whose outputs nothing reads."""
    wanted = {o.name for o in model.graph.output}
    keep = []
    for node in reversed(list(model.graph.node)):
        if any(out in wanted for out in node.output):
            keep.append(node)
            wanted.update(node.input)
    del model.graph.node[:]
    model.graph.node.extend(reversed(keep))
    unused = [i for i in model.graph.initializer if i.name not in wanted]
    for init in unused:
        model.graph.initializer.remove(init)
