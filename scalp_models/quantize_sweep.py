"""The sensitivity sweep behind ``int8_exclusions.json``: each rule's decision flipped, measured against fp32.

For one model (the demo set's, or a folder's), it quantizes the recipe as it stands and once per rule
with that rule's ``keep_fp32`` flipped, and prints a table: nodes kept fp32, top-class agreement and
max |Δp| against fp32 on the check photos of :mod:`scalp_models.quantize`, and the single-photo p50 of
the int8 and fp32 sessions (one thread each). ``--layers N`` gives the per-layer view on the
symptom's test split: the N convolutions whose int8 weights alone (per-channel rounding, everything
else fp32) move the answers most, beside two references: all weights int8 at once, and the fp32
model itself on the same photos re-saved as JPEG quality 85 (how much a harmless input change moves it).
``--depth`` follows the int8 error through the network instead: the relative error of the recipe's
int8 activations against fp32 after the stem, after every block and at the pooled features the head
reads, with and without the bias correction, beside what a JPEG q85 re-save does to those features.
``--ops`` shows where the time goes instead: ONNX Runtime's profile of the fp32 model and of its serving
int8 copy (one thread, one photo), summed by kind of layer (:data:`OP_GROUPS`).
With ``--calibrations`` it compares calibration methods instead (the recipe's rules each time), and
adds the severity agreement on the symptom's generated test split (the demo build's recipe, the
figure issue 15's goal is about).

    python -m scalp_models.quantize_sweep --models demo --symptom hair_loss
    python -m scalp_models.quantize_sweep --models demo --symptom hair_loss --layers 8
    python -m scalp_models.quantize_sweep --models demo --symptom hair_loss --depth
    python -m scalp_models.quantize_sweep --models demo --symptom hair_loss --ops
    python -m scalp_models.quantize_sweep --models demo --symptom hair_loss \
        --calibrations MinMax Percentile:99.999 Percentile:99.99 Entropy
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from scalp_models.onnx_graph import INPUT_NAME, create_session
from scalp_models.quantize import (
    CALIBRATION_IMAGES,
    CALIBRATION_SEED,
    CHECK_IMAGES,
    CHECK_SEED,
    Int8Check,
    Preprocess,
    batched_pixels,
    check_calibration,
    compare_outputs,
    ensure_int8,
    generated_photos,
    int8_path,
    load_calibration,
    load_rules,
    quantize_file,
)


def sweep(fp32_path: Path, preprocess: Preprocess, preprocess_id: str, repeats: int = 20) -> list[dict]:
    """Per rule group: the recipe with that group's decision flipped, against fp32 on the check photos."""
    base_rules = load_rules()
    fp32 = create_session(fp32_path)
    check_photos = generated_photos(CHECK_IMAGES, CHECK_SEED)
    calibration = generated_photos(CALIBRATION_IMAGES, CALIBRATION_SEED)
    variants = [("recipe", base_rules, None), ("recipe without bias correction", base_rules, 0)] + [
        (f"{rule['group']} {'int8' if rule['keep_fp32'] else 'fp32'}",
         [{**r, "keep_fp32": not r["keep_fp32"]} if r is rule else r for r in base_rules], None)
        for rule in base_rules
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="scalp-int8-sweep-") as tmp:
        for label, rules, bias_correction in variants:
            path = Path(tmp) / f"{len(rows)}.onnx"
            kept = quantize_file(fp32_path, path, preprocess, rules, calibration, bias_correction=bias_correction)
            session = create_session(path)
            check = compare_sessions(fp32, session, preprocess, check_photos)
            rows.append({"variant": label, "kept_fp32": len(kept), **asdict(check),
                         "p50_ms_int8": _p50_ms(session, preprocess, check_photos, repeats),
                         "p50_ms_fp32": _p50_ms(fp32, preprocess, check_photos, repeats)})
    return rows


def parse_calibration(text: str) -> dict:
    """``MinMax``, ``Entropy``, ``Percentile:99.99`` (asymmetric ranges: ReLU6 outputs are ≥ 0) or
    ``Percentile:99.99:symmetric`` → a recipe ``calibration``."""
    method, *rest = text.split(":")
    options = {}
    if method == "Percentile":
        options = {"CalibPercentile": float(rest[0]) if rest else 99.999,
                   "CalibTensorRangeSymmetric": "symmetric" in rest[1:]}
    return check_calibration({"method": method, "extra_options": options}, text)


def sweep_calibrations(fp32_path: Path, preprocess: Preprocess, methods: list[str], test=None,
                       repeats: int = 20) -> list[dict]:
    """Per calibration method (the recipe's rules): check-photo figures and, with ``test`` =
    ``(photos, labels)``, the severity agreement with fp32 on those photos."""
    rules = load_rules()
    fp32 = create_session(fp32_path)
    check_photos = generated_photos(CHECK_IMAGES, CHECK_SEED)
    calibration_photos = generated_photos(CALIBRATION_IMAGES, CALIBRATION_SEED)
    rows = []
    with tempfile.TemporaryDirectory(prefix="scalp-int8-sweep-") as tmp:
        for text in methods:
            path = Path(tmp) / f"{len(rows)}.onnx"
            start = time.perf_counter()
            quantize_file(fp32_path, path, preprocess, rules, calibration_photos, parse_calibration(text))
            seconds = time.perf_counter() - start
            session = create_session(path)
            row = {"variant": text, "quantize_s": seconds, **asdict(compare_sessions(fp32, session, preprocess,
                                                                                    check_photos))}
            if test is not None:
                row["test"] = asdict(compare_sessions(fp32, session, preprocess, test[0]))
            row["p50_ms_int8"] = _p50_ms(session, preprocess, check_photos, repeats)
            rows.append(row)
    return rows


def test_split(symptom: str, per_class: int = 12):
    """The symptom's generated test photos (as ``bench/infer.py`` draws them), decoded from JPEG."""
    from scalp_core import SYMPTOMS
    from synthetic.examples import render_symptom_examples

    index, spec = next((i, s) for i, s in enumerate(SYMPTOMS) if s.key == symptom)
    images, labels, _ = render_symptom_examples(spec, per_class, 777_000 + index, (640, 480), keep_colour=True)
    return saved_as_jpeg(images, 90), labels


def saved_as_jpeg(images, quality: int) -> list:
    """``images`` saved as JPEG at ``quality`` and decoded back as serving decodes an upload."""
    import io

    from scalp_models.shared_preprocessing import decode_image

    photos = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        photos.append(decode_image(buffer.getvalue()))
    return photos


def round_weights(model, only: set[str] | None = None):
    """A copy of ``model`` whose Conv weights (those of the nodes in ``only``, default all) went through
    the recipe's per-channel symmetric int8 rounding and back: the weight error alone, in fp32."""
    import onnx
    from onnx import numpy_helper

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    inits = {i.name: i for i in copy.graph.initializer}
    for node in copy.graph.node:
        if node.op_type != "Conv" or node.input[1] not in inits or (only is not None and node.name not in only):
            continue
        weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        scale = np.abs(weight).reshape(len(weight), -1).max(axis=1) / 127
        scale = np.where(scale > 0, scale, 1.0).reshape(-1, *([1] * (weight.ndim - 1)))
        rounded = (np.round(weight / scale) * scale).astype(np.float32)
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(rounded, node.input[1]))
    return copy


def weight_sensitivity(fp32_path: Path, preprocess: Preprocess, photos, top: int = 8) -> list[dict]:
    """Rows ``{variant, agreement, max_dp}`` against fp32 on ``photos`` (see ``--layers``)."""
    import onnx

    from scalp_models.onnx_graph import fold_constant_gates

    fp32 = create_session(fp32_path, threads=2)
    model = onnx.load(str(fp32_path))
    fold_constant_gates(model)

    def against_fp32(label: str, candidate_model=None, candidate_photos=photos) -> dict:
        session = fp32 if candidate_model is None else create_session(candidate_model.SerializeToString(), 2)
        ref = np.concatenate([fp32.run(None, {INPUT_NAME: x})[0] for x in batched_pixels(preprocess, photos)])
        got = np.concatenate([session.run(None, {INPUT_NAME: x})[0]
                              for x in batched_pixels(preprocess, candidate_photos)])
        return {"variant": label, **asdict(compare_outputs(ref, got))}

    rows = [against_fp32("reference: fp32, photos re-saved as JPEG q85", None, saved_as_jpeg(photos, 85)),
            against_fp32("all Conv weights int8 (activations fp32)", round_weights(model))]
    layers = [against_fp32(node.name, round_weights(model, {node.name}))
              for node in model.graph.node if node.op_type == "Conv"]
    return rows + sorted(layers, key=lambda row: -row["max_dp"])[:top]


def depth_taps(model) -> list[tuple[str, str]]:
    """``(label, tensor)`` in network order: the stem's activation, each block's output (its residual sum,
    else its projection) and the input of the head (the pooled features)."""
    nodes = list(model.graph.node)
    taps, last_of_block = [], {}
    stem = [n for n in nodes if "/embeddings/" in n.name] or [n for n in nodes if n.op_type in ("Clip", "Relu")][:1]
    if stem:
        taps.append(("stem", stem[-1].output[0]))
    for node in nodes:
        match = re.search(r"blocks\.(\d+)/", node.name)
        if match and (node.op_type == "Add" or (node.op_type == "Conv" and "project" in node.name)):
            last_of_block[int(match.group(1))] = node.output[0]
    taps += [(f"block {i}", tensor) for i, tensor in sorted(last_of_block.items())]
    head = next((n for n in reversed(nodes) if n.op_type in ("Gemm", "MatMul")), None)
    if head is not None:
        taps.append(("pooled features (the head's input)", head.input[0]))
    return taps


def depth_errors(fp32_path: Path, preprocess: Preprocess, photos) -> list[dict]:
    """Rows ``{tap, median, p90, uncorrected_median}``: ‖int8 − fp32‖ / ‖fp32‖ per photo at each tap of
    :func:`depth_taps`, for the recipe's int8 copy (and its median without the bias correction); the last
    row is the fp32 features of the photos re-saved as JPEG q85."""
    import onnx

    from scalp_models.onnx_graph import fold_constant_gates

    model = onnx.load(str(fp32_path))
    fold_constant_gates(model)
    taps = depth_taps(model)
    present = {o.name for o in model.graph.output}
    for _, tensor in taps:
        if tensor not in present:
            model.graph.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
    resaved = saved_as_jpeg(photos, 85)
    calibration = generated_photos(CALIBRATION_IMAGES, CALIBRATION_SEED)
    names = [tensor for _, tensor in taps]
    with tempfile.TemporaryDirectory(prefix="scalp-int8-depth-") as tmp:
        tapped, corrected, plain = (Path(tmp) / f"{name}.onnx" for name in ("taps", "int8", "int8-uncorrected"))
        onnx.save(model, str(tapped))
        quantize_file(tapped, corrected, preprocess, load_rules(), calibration)
        quantize_file(tapped, plain, preprocess, load_rules(), calibration, bias_correction=0)

        def outputs(path, chosen) -> list[np.ndarray]:
            session = create_session(path, 2)
            runs = [session.run(names, {INPUT_NAME: x}) for x in batched_pixels(preprocess, chosen)]
            return [np.concatenate([run[i] for run in runs]) for i in range(len(names))]

        ref, got, uncorrected, jpeg = (outputs(tapped, photos), outputs(corrected, photos), outputs(plain, photos),
                                       outputs(tapped, resaved))

    def errors(a, b) -> np.ndarray:
        a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
        return np.linalg.norm(b - a, axis=1) / np.maximum(np.linalg.norm(a, axis=1), 1e-12)

    def row(label, a, b, c=None) -> dict:
        error = errors(a, b)
        return {"tap": label, "median": float(np.median(error)), "p90": float(np.percentile(error, 90)),
                "uncorrected_median": None if c is None else float(np.median(errors(a, c)))}

    rows = [row(label, a, b, c) for (label, _), a, b, c in zip(taps, ref, got, uncorrected)]
    return rows + [row("reference: fp32 pooled features, photos re-saved as JPEG q85", ref[-1], jpeg[-1])]


# ``--ops``: each profiled node counts in the first group whose test its name and op type pass. ONNX
# Runtime's rewrites rename nodes (an fp32 convolution fused with its activation is named after the
# activation's output), so the tests read the block's part (``/expansion/``), not the op. In fp32 the
# residual adds are fused into the convolutions.
OP_GROUPS: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    ("front: stem and block 0 (fp32 in the recipe)", lambda name, op: "/embeddings/" in name or "blocks.0/" in name),
    ("residual adds", lambda name, op: op in ("Add", "QLinearAdd")),
    ("(de)quantize and layout changes", lambda name, op: op in ("QuantizeLinear", "DequantizeLinear", "Transpose",
                                                                  "ReorderInput", "ReorderOutput")),
    ("squeeze-excite gates (fp32 in the recipe)", lambda name, op: "squeeze_excite" in name),
    ("1×1 expansion convolutions", lambda name, op: "/expansion/" in name),
    ("depthwise convolutions", lambda name, op: "/depthwise_" in name),
    ("1×1 projection convolutions", lambda name, op: "/projection/" in name),
    ("top 1×1 convolution", lambda name, op: "/top_" in name),
    ("pool, classifier and the rest (fp32)", lambda name, op: True),
)


def op_group(name: str, op: str) -> str:
    return next(label for label, test in OP_GROUPS if test(name, op))


def op_times(path: Path, preprocess: Preprocess, photo, runs: int = 50, warmup: int = 5) -> dict[str, float]:
    """Milliseconds per run in each of :data:`OP_GROUPS` (plus ``"nodes"``: how many nodes each has), from
    ONNX Runtime's profile of one session on one thread, ``photo`` run ``warmup + runs`` times (the
    warm-up runs not counted)."""
    pixels = preprocess([photo])
    with tempfile.TemporaryDirectory(prefix="scalp-int8-ops-") as tmp:
        session = create_session(path, threads=1, profile_prefix=str(Path(tmp) / "profile"))
        for _ in range(warmup + runs):
            session.run(None, {INPUT_NAME: pixels})
        events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    seen, micros, nodes = Counter(), Counter(), {}
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        name = event["name"][: -len("_kernel_time")]
        seen[name] += 1
        if seen[name] > warmup:
            group = op_group(name, event["args"]["op_name"])
            micros[group] += event["dur"]
            nodes.setdefault(group, set()).add(name)
    return {label: micros[label] / runs / 1e3 for label, _ in OP_GROUPS} | {
        "nodes": {label: len(nodes.get(label, ())) for label, _ in OP_GROUPS}}


def compare_sessions(fp32_session, int8_session, preprocess, photos) -> Int8Check:
    ref = np.concatenate([fp32_session.run(None, {INPUT_NAME: x})[0] for x in batched_pixels(preprocess, photos)])
    got = np.concatenate([int8_session.run(None, {INPUT_NAME: x})[0] for x in batched_pixels(preprocess, photos)])
    return compare_outputs(ref, got)


def _p50_ms(session, preprocess, photos, repeats: int) -> float:
    pixels = preprocess(photos[:1])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, {INPUT_NAME: pixels})
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="demo", help="'demo' or a folder of six <symptom key>/ model folders")
    parser.add_argument("--symptom", default="hair_loss", help="which model to sweep")
    parser.add_argument("--repeats", type=int, default=20, help="timed single-photo runs per variant")
    parser.add_argument("--layers", type=int, metavar="N",
                        help="print the N convolutions whose int8 weights alone move the answers most")
    parser.add_argument("--depth", action="store_true",
                        help="print the int8 activations' relative error after the stem, each block and at the "
                             "pooled features (the recipe's copy, on the symptom's generated test split)")
    parser.add_argument("--ops", action="store_true",
                        help="print where the fp32 model's and its serving int8 copy's time goes, by kind of layer "
                             "(ONNX Runtime's profile, one thread, one photo)")
    parser.add_argument("--calibrations", nargs="*", metavar="METHOD",
                        help="compare these calibration methods (MinMax, Entropy, Percentile:99.99[:symmetric]) "
                             f"instead of the rules; the recipe now: {load_calibration()}")
    args = parser.parse_args(argv)
    from scalp_models.diagnoser import ScalpDiagnoser

    diagnoser = ScalpDiagnoser.from_source(args.models, backend="onnx")
    fp32_path = diagnoser.onnx_paths[args.symptom]
    preprocess, preprocess_id = diagnoser.preprocessor(args.symptom)
    if args.layers:
        print(f"{args.symptom}, its generated test split, against fp32:")
        print("| variant | severity agreement | max |Δp| |")
        print("|---|---:|---:|")
        for row in weight_sensitivity(fp32_path, preprocess, test_split(args.symptom)[0], args.layers):
            print(f"| {row['variant']} | {row['agreement']:.1%} | {row['max_dp']:.3f} |")
        return 0
    if args.depth:
        print(f"{args.symptom}, its generated test split: ‖int8 − fp32‖ / ‖fp32‖ per photo")
        print("| where | median | p90 | median without bias correction |")
        print("|---|---:|---:|---:|")
        for row in depth_errors(fp32_path, preprocess, test_split(args.symptom)[0]):
            plain = "" if row["uncorrected_median"] is None else f"{row['uncorrected_median']:.1%}"
            print(f"| {row['tap']} | {row['median']:.1%} | {row['p90']:.1%} | {plain} |")
        return 0
    if args.ops:
        ensure_int8(fp32_path, preprocess, preprocess_id, name=args.symptom)  # the serving copy, built if not cached
        photo = generated_photos(1, CHECK_SEED)[0]
        fp32, int8 = (op_times(path, preprocess, photo, args.repeats * 3)
                      for path in (fp32_path, int8_path(fp32_path, preprocess_id)))
        total32, total8 = (sum(v for k, v in t.items() if k != "nodes") for t in (fp32, int8))
        print(f"{args.symptom}: ONNX Runtime's profile, one thread, one photo, {args.repeats * 3} runs "
              "(kernel time, summed by kind of layer)")
        print("| layers | nodes fp32 / int8 | fp32 ms | int8 ms | int8 / fp32 | share of int8 time |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, _ in OP_GROUPS:
            if fp32[label] or int8[label]:
                ratio = f"{int8[label] / fp32[label]:.2f}×" if fp32[label] else "new"
                print(f"| {label} | {fp32['nodes'][label]} / {int8['nodes'][label]} | {fp32[label]:.2f} "
                      f"| {int8[label]:.2f} | {ratio} | {int8[label] / total8:.0%} |")
        print(f"| all | | {total32:.2f} | {total8:.2f} | {total8 / total32:.2f}× | 100% |")
        return 0
    if args.calibrations:
        print(f"{args.symptom}: {CALIBRATION_IMAGES} calibration photos; check: {CHECK_IMAGES} photos; "
              "test: its generated test split")
        print("| calibration | quantize s | check agreement | check max |Δp| | test agreement | test max |Δp| "
              "| p50 ms int8 |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for row in sweep_calibrations(fp32_path, preprocess, args.calibrations, test_split(args.symptom),
                                      args.repeats):
            print(f"| {row['variant']} | {row['quantize_s']:.0f} | {row['agreement']:.1%} | {row['max_dp']:.3f} "
                  f"| {row['test']['agreement']:.1%} | {row['test']['max_dp']:.3f} | {row['p50_ms_int8']:.1f} |")
        return 0
    print("| variant | nodes kept fp32 | top-class agreement | max |Δp| | p50 ms int8 | p50 ms fp32 |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in sweep(fp32_path, preprocess, preprocess_id, args.repeats):
        print(f"| {row['variant']} | {row['kept_fp32']} | {row['agreement']:.1%} | {row['max_dp']:.3f} "
              f"| {row['p50_ms_int8']:.1f} | {row['p50_ms_fp32']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
