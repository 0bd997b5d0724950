"""Grad-CAM heatmaps for the scalp models ("왜 이렇게 판단했나요? / Why?"), computed on demand only.

For one symptom model and one photo, :func:`explain` shows where the model looked for the class it
predicted: Grad-CAM (Selvaraju et al., 2017) on the output of the model's last convolution, the
feature map its classifier pools. Hand-written on plain PyTorch hooks (about 30 lines) because the
libraries that do it pull in torchvision (pytorch-grad-cam) or a large dependency for one function.

How it is computed, for a transformers ``EfficientNetForImageClassification`` (any model whose last
``Conv2d`` feeds a pooled classifier works the same way):

- the input is exactly what the diagnoser serves (``scalp_models.shared_preprocessing``): the whole
  photo squash-resized to the model's square input (224/240 px, 600 px for 모낭사이홍반), gray for
  unfolded grayscale models, normalised with the model's own processor values; :class:`ServedViews`
  keeps those uint8 squares so an app can explain a diagnosed photo later without keeping the photo;
- a forward hook on :func:`cam_layer` (the last convolution's output after its batch norm and
  activation, like torchvision's ``Conv2dNormActivation``: ``encoder.top_activation`` here) swaps the
  map A for a leaf that records gradients. Everything before it runs without autograd, so an
  explanation costs about one forward pass; ``torch.autograd.grad`` then gives ∂y_c/∂A for the
  explained class c without touching the models' ``.grad`` (the models are shared with the diagnoser);
- CAM = ReLU(Σ_k α_k A_k) with α_k the spatial mean of ∂y_c/∂A_k, divided by its maximum (all zeros
  when nothing speaks for the class). Its grid is the feature grid: the input side / 32, rounded up
  (7×7 at 224 px, 8×8 at 240 px, 19×19 at 600 px).

Mapping back onto the photo: the served input is the WHOLE photo squashed to a square (no crop), so
grid cell (i, j) covers rows i/n..(i+1)/n and columns j/m..(j+1)/m of the photo itself, whatever its
aspect. :func:`cam_on_photo` stretches the grid over the photo's own size (bilinear, cell centres on
cell centres) and :func:`overlay` blends it in colour over the photo (in gray for grayscale models:
that is what they saw). The stem's padding makes the last row and column reach slightly past the
input's edge, an error smaller than one cell.

    >>> explanation = explain(model, processor, photo)          # the predicted class
    >>> explanation.predicted, explanation.cam.shape            # (2, (8, 8))
    >>> overlay(photo, explanation.cam).save("why.png")

From a shell (any model source the diagnoser takes)::

    python -m scalp_models.explain --source demo --symptom dandruff scalp.jpg --out why.png
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from scalp_models.shared_preprocessing import (
    ImageInput,
    ResizeKey,
    decode_image,
    plan_preprocessing,
    resized_tensor,
)

RAW_MAX_SIDE = 32  # the "raw" grid handed to API clients is at most this many cells a side
OVERLAY_MAX_SIDE = 480
OVERLAY_ALPHA = 0.45


# ----------------------------------------------------------------------------- serving inputs


def served_resize(model: torch.nn.Module, processor) -> ResizeKey | None:
    """The resize the diagnoser applies for this model (gray first for unfolded grayscale models),
    or None when its processor is one the diagnoser runs as is."""
    resize, _ = plan_preprocessing(processor)
    scalp = dict(getattr(model.config, "scalp", None) or {})
    if resize is not None and scalp.get("grayscale") and not scalp.get("grayscale_folded"):
        resize = ResizeKey(resize.size, resize.resample, gray=True)
    return resize


def _unfolded_gray(model) -> bool:
    scalp = dict(getattr(model.config, "scalp", None) or {})
    return bool(scalp.get("grayscale")) and not scalp.get("grayscale_folded")


class ServedViews:
    """A photo as the models saw it: one uint8 square per distinct served resize, never the photo.

    About 0.15 MB per distinct resize at 224 px, 1.1 MB at 600 px. A model whose processor the
    diagnoser cannot share keeps its processor's pixel values instead (float32; no model made
    here has one).
    """

    def __init__(self, squares: Mapping[ResizeKey, np.ndarray], pixels: Mapping[str, torch.Tensor], size: tuple):
        self.squares = dict(squares)
        self.pixels_by_key = dict(pixels)
        self.photo_size = tuple(size)  # (width, height) of the photo that was served

    @classmethod
    def of(cls, image: ImageInput, models: Mapping[str, tuple[torch.nn.Module, object]]) -> ServedViews:
        """The served views of ``image`` for every ``{symptom key: (model, processor)}``."""
        photo = decode_image(image)
        squares, pixels = {}, {}
        for key, (model, processor) in models.items():
            resize = served_resize(model, processor)
            if resize is None:
                pixels[key] = serving_pixels(model, processor, photo)
            elif resize not in squares:
                squares[resize] = resized_tensor([photo], resize)[0].permute(1, 2, 0).numpy().astype(np.uint8)
        return cls(squares, pixels, photo.size)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.squares.values()) + sum(
            t.numel() * t.element_size() for t in self.pixels_by_key.values())

    def pixels(self, key: str, model: torch.nn.Module, processor) -> torch.Tensor:
        """The normalised (1, 3, s, s) input the diagnoser fed ``model`` for this photo."""
        if key in self.pixels_by_key:
            return self.pixels_by_key[key]
        resize = served_resize(model, processor)
        if resize not in self.squares:
            raise KeyError(f"no served view of this photo for the {key} model ({resize})")
        square = torch.from_numpy(self.squares[resize]).permute(2, 0, 1).unsqueeze(0).contiguous().float()
        return _normalised(square, processor)


def _normalised(square: torch.Tensor, processor) -> torch.Tensor:
    _, normalization = plan_preprocessing(processor)
    a, b = normalization.affine()
    return square * a + b


def serving_pixels(model: torch.nn.Module, processor, image: ImageInput) -> torch.Tensor:
    """The normalised (1, 3, s, s) input the diagnoser feeds ``model`` for ``image``: the same
    decode, resize and normalisation (``scalp_models.shared_preprocessing``), the processor itself
    for processors it cannot share."""
    photo = decode_image(image)
    resize = served_resize(model, processor)
    if resize is None:
        source = photo.convert("L").convert("RGB") if _unfolded_gray(model) else photo
        return processor(images=[source], return_tensors="pt")["pixel_values"]
    return _normalised(resized_tensor([photo], resize), processor)


# ----------------------------------------------------------------------------- Grad-CAM


def cam_layer(model: torch.nn.Module) -> torch.nn.Module:
    """The module whose output Grad-CAM reads: the last convolution after its norm and activation.

    For transformers' EfficientNet that is ``encoder.top_activation`` (top_conv → top_bn → it), the
    map the classifier pools; for other models, the last ``Conv2d`` itself."""
    encoder = getattr(getattr(model, "base_model", model), "encoder", None)
    top_conv, top_activation = getattr(encoder, "top_conv", None), getattr(encoder, "top_activation", None)
    if isinstance(top_conv, torch.nn.Conv2d) and isinstance(top_activation, torch.nn.Module):
        return top_activation
    convolutions = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convolutions:
        raise ValueError(f"{type(model).__name__} has no convolution to explain")
    return convolutions[-1]


class _Probe:
    """Forward hook: replaces the layer's output with a leaf that records gradients, and turns
    autograd on from there (only the head is recorded). Only the calling thread is probed, so a
    diagnosis running the same shared model in another thread is left alone."""

    def __init__(self):
        self.thread = threading.get_ident()
        self.activation: torch.Tensor | None = None

    def __call__(self, module, inputs, output):
        if threading.get_ident() != self.thread or not isinstance(output, torch.Tensor):
            return None
        self.activation = output.detach().requires_grad_(True)
        torch.set_grad_enabled(True)  # undone when the caller's no_grad block exits
        return self.activation


def grad_cam(
    model: torch.nn.Module, pixels: torch.Tensor, target: int | None = None, layer: torch.nn.Module | None = None
) -> tuple[np.ndarray, torch.Tensor]:
    """``(cam, logits)`` for one normalised input (1, 3, s, s): ``cam`` is the (h, w) float32 Grad-CAM
    of class ``target`` (default: the predicted class) on ``layer``'s grid, in [0, 1]."""
    if pixels.ndim != 4 or pixels.shape[0] != 1:
        raise ValueError(f"grad_cam explains one image: pixel values of shape (1, 3, s, s), got {tuple(pixels.shape)}")
    probe = _Probe()
    handle = (layer or cam_layer(model)).register_forward_hook(probe)
    with torch.inference_mode(False):  # whatever mode the caller is in
        try:
            with torch.no_grad():  # the probe records from the explained layer on
                logits = model(pixel_values=pixels).logits
        finally:
            handle.remove()
        if probe.activation is None or probe.activation.ndim != 4:
            raise RuntimeError("the explained layer produced no (1, C, h, w) feature map")
        cls = int(logits[0].argmax()) if target is None else int(target)
        if not 0 <= cls < logits.shape[-1]:
            raise ValueError(f"target class {target} is not one of the model's {logits.shape[-1]} classes")
        with torch.enable_grad():
            (gradient,) = torch.autograd.grad(logits[0, cls], probe.activation)
        with torch.no_grad():
            weights = gradient.mean(dim=(2, 3), keepdim=True)  # α_k
            cam = torch.relu((weights * probe.activation).sum(dim=1))[0]
    peak = float(cam.max())
    cam = cam / peak if peak > 0 else torch.zeros_like(cam)
    return cam.numpy().astype(np.float32), logits.detach()


def textbook_grad_cam(model: torch.nn.Module, pixels: torch.Tensor, target: int | None = None) -> np.ndarray:
    """Grad-CAM the textbook way, for checks and benchmarks only: autograd through the whole model, a
    tensor hook on the map and ``backward()`` (≈ 4× slower than :func:`grad_cam`, and it writes ``.grad``
    on the model's parameters, cleared again here). Same normalisation as :func:`grad_cam`."""
    saved = {}

    def keep(module, inputs, output):
        saved["map"] = output
        output.register_hook(lambda grad: saved.__setitem__("grad", grad))

    handle = cam_layer(model).register_forward_hook(keep)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            logits = model(pixel_values=pixels).logits
            logits[0, int(logits[0].argmax()) if target is None else int(target)].backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    weights = saved["grad"].mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * saved["map"]).sum(dim=1))[0].detach()
    return (cam / cam.max() if cam.max() > 0 else cam).numpy().astype(np.float32)


@dataclass(frozen=True)
class Explanation:
    """One symptom's heatmap: the class explained, what the model answered, the CAM grid."""

    symptom: str | None
    target: int  # the class the heatmap is for
    predicted: int  # the model's own top class for this input
    probabilities: tuple[float, ...]
    cam: np.ndarray  # (h, w) float32 in [0, 1], the feature grid
    input_size: int  # side of the square the model saw

    def raw(self, max_side: int = RAW_MAX_SIDE) -> list[list[float]]:
        """The CAM as a list of rows, area-averaged down to at most ``max_side`` a side, 4 decimals."""
        return [[round(float(v), 4) for v in row] for row in shrink_grid(self.cam, max_side)]

    def to_dict(self) -> dict:
        return {"symptom": self.symptom, "target": self.target, "predicted": self.predicted,
                "probabilities": list(self.probabilities), "grid": list(self.cam.shape),
                "input_size": self.input_size, "raw": self.raw()}


def explain(
    model: torch.nn.Module,
    processor,
    image: ImageInput | torch.Tensor,
    *,
    target: int | None = None,
    symptom: str | None = None,
) -> Explanation:
    """The Grad-CAM of ``target`` (default: the predicted class) for one photo, preprocessed exactly as
    served; ``image`` may also be the served pixel values (``ServedViews.pixels``)."""
    pixels = image if isinstance(image, torch.Tensor) else serving_pixels(model, processor, image)
    cam, logits = grad_cam(model, pixels, target)
    scores = logits[0].double()
    scalp = dict(getattr(model.config, "scalp", None) or {})
    temperature = 1.0 if scalp.get("temperature_folded") else float(scalp.get("temperature", 1.0) or 1.0)
    probabilities = torch.softmax(scores / temperature, dim=-1).numpy()
    predicted = int(np.argmax(probabilities))
    return Explanation(
        symptom=symptom or scalp.get("symptom"),
        target=predicted if target is None else int(target),
        predicted=predicted,
        probabilities=tuple(float(p) for p in probabilities),
        cam=cam,
        input_size=int(pixels.shape[-1]),
    )


# ----------------------------------------------------------------------------- onto the photo


def shrink_grid(cam: np.ndarray, max_side: int = RAW_MAX_SIDE) -> np.ndarray:
    """``cam`` area-averaged so neither side exceeds ``max_side`` (unchanged when it already fits)."""
    h, w = cam.shape
    if max(h, w) <= max_side:
        return cam
    scale = max_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.adaptive_avg_pool2d(torch.from_numpy(cam)[None, None], size)[0, 0].numpy()


def cam_on_photo(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The grid stretched over a photo of ``size`` = (width, height): (height, width) float32 in [0, 1].

    The served input is the whole photo squashed to a square, so this stretch is its exact inverse."""
    width, height = size
    grid = torch.from_numpy(np.ascontiguousarray(cam, dtype=np.float32))[None, None]
    up = F.interpolate(grid, size=(int(height), int(width)), mode="bilinear", align_corners=False)
    return up[0, 0].clamp(0, 1).numpy()


def quadrant_masses(cam: np.ndarray, size: tuple[int, int] | None = None) -> dict[str, float]:
    """Share of the heatmap's mass in each quadrant of the photo (``tl``, ``tr``, ``bl``, ``br``),
    read on the map stretched over ``size`` (default: 8 pixels a cell)."""
    h, w = cam.shape
    heat = cam_on_photo(cam, size or (8 * w, 8 * h)).astype(np.float64)
    total = heat.sum()
    if total <= 0:
        return {q: 0.0 for q in ("tl", "tr", "bl", "br")}
    rows, cols = heat.shape
    top, left = rows // 2, cols // 2
    parts = {"tl": heat[:top, :left], "tr": heat[:top, left:], "bl": heat[top:, :left], "br": heat[top:, left:]}
    return {q: float(part.sum() / total) for q, part in parts.items()}


def heat_colours(values: np.ndarray) -> np.ndarray:
    """(h, w) values in [0, 1] → (h, w, 3) uint8 colours of matplotlib's ``jet`` map."""
    from matplotlib import colormaps  # heavy; only when a heatmap is drawn

    return (colormaps["jet"](np.clip(values, 0, 1))[..., :3] * 255).round().astype(np.uint8)


def overlay(
    photo: ImageInput,
    cam: np.ndarray,
    *,
    gray: bool = False,
    alpha: float = OVERLAY_ALPHA,
    max_side: int = OVERLAY_MAX_SIDE,
) -> Image.Image:
    """The heatmap blended over the photo (shrunk to ``max_side``), weighted by the heat so that
    cold areas show the photo as it is; ``gray``: the photo in luminance (a grayscale model's view)."""
    base = decode_image(photo)
    if max(base.size) > max_side:
        base = base.copy()
        base.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if gray:
        base = base.convert("L").convert("RGB")
    heat = cam_on_photo(cam, base.size)
    weight = (alpha * np.sqrt(heat))[..., None]
    blended = np.asarray(base, dtype=np.float32) * (1 - weight) + heat_colours(heat).astype(np.float32) * weight
    return Image.fromarray(np.clip(blended.round(), 0, 255).astype(np.uint8))


def is_grayscale_model(model: torch.nn.Module) -> bool:
    """Whether the model sees only luminance (a grayscale symptom, folded or not)."""
    return bool((getattr(model.config, "scalp", None) or {}).get("grayscale"))


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grad-CAM heatmap of one symptom model for one photo.")
    parser.add_argument("image", type=Path, help="a photo (JPEG/PNG)")
    parser.add_argument("--source", default="demo", help="Hub namespace, local models folder, or 'demo'")
    parser.add_argument("--symptom", required=True, help="symptom key, e.g. dandruff")
    parser.add_argument("--out", type=Path, required=True, help="where to write the overlay PNG")
    args = parser.parse_args(argv)
    from scalp_models.diagnoser import ScalpDiagnoser  # loads six models: only for the command line

    diagnoser = ScalpDiagnoser.from_source(args.source, backend="torch")
    try:
        model, processor = diagnoser.model_for(args.symptom)
    except KeyError:
        parser.error(f"unknown symptom {args.symptom!r}; one of {[s.key for s in diagnoser.specs]}")
    explanation = explain(model, processor, args.image, symptom=args.symptom)
    overlay(args.image, explanation.cam, gray=is_grayscale_model(model)).save(args.out)
    print(json.dumps({k: v for k, v in explanation.to_dict().items() if k != "raw"}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
