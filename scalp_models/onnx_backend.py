"""ONNX Runtime backend for ``ScalpDiagnoser``: export once, cache, run the six models in parallel.

Each symptom model is exported (fp32, opset 17, TorchScript exporter, dynamic batch axis, fixed
input side) the first time it is seen and cached as ``$SCALP_CACHE/onnx/<fingerprint>.onnx``
(``~/.cache/scalp-care/onnx`` by default). The fingerprint hashes the weights, the config and the
input size, so a retrained or re-downloaded model gets a new file and a second load never
re-exports. Caching outside the model folders keeps Hub snapshots (read-only) and model folders
that ``hub_upload`` pushes untouched. A fresh export is checked against the PyTorch forward on a
random input before it is used.

At inference the models are split into ``workers`` groups by cost (input side², longest first),
each group runs on its own thread with single-threaded sessions (ONNX Runtime releases the GIL).
On two cores this puts the 600 px 모낭사이홍반 model on one core and the five 240 px models on the
other, which beats intra-op threading: batch-1 depthwise convolutions scale poorly over threads.

    >>> diagnoser = ScalpDiagnoser.from_source("demo", backend="onnx")   # the default
    >>> diagnoser.backend
    'onnx'

``python -m scalp_models.diagnoser --source demo --export-onnx`` exports (or finds) the six files
and prints where they are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scalp_core.cli import help_field
from scalp_core.paths import cache_dir
from scalp_models.cache_files import mark_used
from scalp_models.onnx_graph import INPUT_NAME, OUTPUT_NAME, create_session, simplify_export

log = logging.getLogger(__name__)

# After each model in a group: (key, precision of the session that ran, logits, pixels) → logits.
Then = Callable[[str, str, np.ndarray, np.ndarray], np.ndarray]

OPSET = 17
EXPORT_FORMAT = 3  # bump when the export recipe changes, so old cache files are not reused
# 2: identity squeeze-excite gates are folded away; 3: and zero Pads merged into their Conv (simplify_export)
# Max |output difference| allowed between a fresh export and PyTorch, per unit of the outputs' scale
# (max |PyTorch output|, at least 1): logits of a few units must agree to 1e-4, the demo heads' logits
# of a hundred units to 1e-2 (fp32 rounding grows with the values; 1.05e-4 on such a head made the
# diagnoser fall back to PyTorch).
CHECK_ATOL = 1e-4

# How many exports this process ran (tests check that a second load reuses the cache).
export_count = 0


class OnnxExportError(RuntimeError):
    """A model could not be exported to (or checked against) ONNX."""


@dataclass(frozen=True)
class OnnxOptions:
    """How the ONNX backend runs the models."""

    threads: int = help_field("CPU threads in all (cores to use)", default=2)
    parallel_models: bool = help_field(
        "run model groups concurrently, one thread each (else one model at a time, intra-op threads)",
        default=True,
    )
    cache: Path | None = help_field("folder for .onnx files (default $SCALP_CACHE/onnx)", default=None)

    def __post_init__(self):
        if self.threads < 1:
            raise ValueError(f"threads must be ≥ 1, got {self.threads}")


def onnx_cache_dir() -> Path:
    return cache_dir() / "onnx"


def model_fingerprint(model: torch.nn.Module, input_size: int) -> str:
    """sha256 of the export recipe, the input size, the config and every weight and buffer. Not of where the
    model was loaded from (the config's ``_name_or_path``): the same model in a moved cache, a copied folder
    or a new Hub snapshot of the same weights reuses its export and its int8 copy."""
    digest = hashlib.sha256()
    config = getattr(model, "config", None)
    config_text = ""
    if hasattr(config, "to_json_string"):
        settings = json.loads(config.to_json_string(use_diff=False))
        settings.pop("_name_or_path", None)
        config_text = json.dumps(settings, sort_keys=True)
    header = {"format": EXPORT_FORMAT, "opset": OPSET, "size": int(input_size), "config": config_text,
              "class": type(model).__name__}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode() + str(tensor.dtype).encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:32]


class _Logits(torch.nn.Module):
    """``pixel_values → logits`` for transformers image classifiers (their forward returns a dataclass)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


_EXPORT_LOCK = threading.Lock()


def torch_to_onnx(module: torch.nn.Module, input_size: int, path: Path, output_name: str = OUTPUT_NAME) -> None:
    """``torch.onnx.export`` of ``module(pixel_values) → output`` for (N, 3, size, size) fp32 inputs,
    batch size dynamic, the exporter's warnings silenced. Raises whatever the exporter raises."""
    example = torch.zeros(1, 3, input_size, input_size)
    # torch.onnx keeps global export state (GLOBALS.in_onnx_export) and warning filters are process-wide:
    # two exports at once (the diagnoser and the photo check's Lite0 at app start) must take turns.
    with _EXPORT_LOCK, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), str(path), dynamo=False, opset_version=OPSET,
            input_names=[INPUT_NAME], output_names=[output_name],
            dynamic_axes={INPUT_NAME: {0: "batch"}, output_name: {0: "batch"}},
        )


def export_onnx(model: torch.nn.Module, input_size: int, path: Path) -> Path:
    """Export ``model`` (eval mode, fp32) for (N, 3, size, size) inputs, written atomically to ``path``."""
    global export_count
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OnnxExportError(f"cannot create the ONNX cache folder {path.parent} ({err}); "
                              "set SCALP_CACHE to a writable folder") from err
    was_training = model.training
    wrapper = _Logits(model).eval()  # a new Module starts in training mode: BN would use batch stats
    try:
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as tmp:
            tmp_path = Path(tmp) / "model.onnx"
            torch_to_onnx(wrapper, input_size, tmp_path)
            simplify_export(tmp_path)
            check_export(wrapper, tmp_path, input_size, name=type(model).__name__)
            os.replace(tmp_path, path)
    except OnnxExportError:
        raise
    except Exception as err:  # the exporter raises many types; all mean "use PyTorch"
        raise OnnxExportError(
            f"exporting {type(model).__name__} to ONNX failed: {type(err).__name__}: {err}"
        ) from err
    finally:
        model.train(was_training)
    export_count += 1
    return path


def check_export(module: torch.nn.Module, path: Path, input_size: int, session=None, name: str | None = None) -> float:
    """Max |difference| of the ONNX file's output vs ``module(pixel_values)`` (a ``torch_to_onnx``
    module) on a random batch of two; raises :class:`OnnxExportError` if > CHECK_ATOL × the outputs' scale."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, input_size, input_size, generator=generator)
    with torch.inference_mode():
        expected = module.eval()(x).numpy()
    got = (session or create_session(path, threads=1)).run(None, {INPUT_NAME: x.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    allowed = CHECK_ATOL * max(1.0, float(np.abs(expected).max()))
    if not diff <= allowed:
        raise OnnxExportError(f"the ONNX export of {name or type(module).__name__} differs from PyTorch by "
                              f"{diff:.2e} (> {allowed:.1e}); using PyTorch instead")
    return diff


def ensure_onnx(model: torch.nn.Module, input_size: int, cache: Path | None = None) -> Path:
    """The cached ``.onnx`` file for this model and input size, exporting it the first time."""
    path = Path(cache or onnx_cache_dir()) / f"{model_fingerprint(model, input_size)}.onnx"
    if path.is_file():
        mark_used(path)  # so `python -m scalp_models cache --prune` keeps it
        return path
    log.info("exporting %s at %d px to %s", type(model).__name__, input_size, path)
    return export_onnx(model, input_size, path)


def balance(costs: Mapping[str, float], workers: int) -> list[list[str]]:
    """Longest-processing-time-first split of the keys into ≤ ``workers`` groups of similar cost."""
    groups: list[list[str]] = [[] for _ in range(max(1, workers))]
    loads = [0.0] * len(groups)
    for key in sorted(costs, key=lambda k: -costs[k]):
        target = int(np.argmin(loads))
        groups[target].append(key)
        loads[target] += costs[key]
    return [group for group in groups if group]


class OnnxRunner:
    """ONNX Runtime sessions for several classifiers; ``run({key: pixels}) → {key: logits}``."""

    def __init__(
        self, models: Mapping[str, tuple[torch.nn.Module, int]], options: OnnxOptions = OnnxOptions()
    ):
        """``models`` maps a key to ``(model, input side)``; raises ImportError/OnnxExportError."""
        import onnxruntime  # noqa: F401  (fail early, before any export, when it is missing)

        self.options = options
        self.paths = {key: ensure_onnx(model, size, options.cache) for key, (model, size) in models.items()}
        costs = {key: float(size) ** 2 for key, (_, size) in models.items()}
        workers = min(options.threads, len(models)) if options.parallel_models else 1
        self.groups = balance(costs, workers)
        self.intra_threads = max(1, options.threads // len(self.groups))
        self.sessions = {key: create_session(path, self.intra_threads) for key, path in self.paths.items()}
        self.precision = {key: "fp32" for key in self.paths}
        self.reference: dict = {}  # key → the fp32 session its int8 copy replaced (see run_reference)
        self._pool = None
        if len(self.groups) > 1:
            self._pool = ThreadPoolExecutor(len(self.groups), thread_name_prefix="onnx")

    def use_session(self, key: str, session, precision: str, keep_reference: bool = False) -> None:
        """Serve ``key`` with another session of the same model (its int8 copy); calls already running
        finish on the old one. ``keep_reference`` keeps the fp32 session for :meth:`run_reference`
        (the diagnoser re-checks answers near a class boundary on it); else it is released."""
        if keep_reference and self.precision[key] == "fp32":
            self.reference[key] = self.sessions[key]
        self.sessions[key] = session
        self.precision[key] = precision

    def run_reference(self, key: str, pixels: np.ndarray) -> np.ndarray:
        """``key``'s fp32 logits for ``pixels``, from the session ``use_session(keep_reference=True)`` kept."""
        pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        return self.reference[key].run([OUTPUT_NAME], {INPUT_NAME: pixels})[0]

    def _run_group(self, group: Sequence[str], pixels: Mapping[str, np.ndarray], then: Then | None = None
                   ) -> dict[str, np.ndarray]:
        out = {}
        for key in group:
            precision = self.precision[key]  # read first: use_session swaps the session, then this label
            logits = self.sessions[key].run([OUTPUT_NAME], {INPUT_NAME: pixels[key]})[0]
            out[key] = logits if then is None else then(key, precision, logits, pixels[key])
        return out

    def submit(self, group: Sequence[str], pixels: Mapping[str, np.ndarray], then: Then | None = None) -> Future:
        """Start one group (``self.groups``) on its own thread; the future gives ``{key: logits}``.
        ``then(key, precision, logits, pixels)``, when given, runs on that thread right after each model
        and its result replaces the logits (the diagnoser's int8 re-check)."""
        arrays = {key: np.ascontiguousarray(value, dtype=np.float32) for key, value in pixels.items()}
        if self._pool is None:
            done: Future = Future()
            done.set_result(self._run_group(group, arrays, then))
            return done
        return self._pool.submit(self._run_group, group, arrays, then)

    def run(self, pixels: Mapping[str, np.ndarray | torch.Tensor]) -> dict[str, np.ndarray]:
        arrays = {key: np.ascontiguousarray(value, dtype=np.float32) for key, value in pixels.items()}
        groups = [[key for key in group if key in arrays] for group in self.groups]
        groups = [group for group in groups if group]
        if self._pool is None or len(groups) < 2:
            return {k: v for group in groups for k, v in self._run_group(group, arrays).items()}
        out = {}
        for result in self._pool.map(lambda group: self._run_group(group, arrays), groups):
            out.update(result)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)

