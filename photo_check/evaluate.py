"""A labelled evaluation set for the photo check, built on the fly, and its scores.

The set never overlaps the fitting data: scalp close-ups are rendered from a different
seed, non-scalp pictures are the *held-out* package photos (other source photos than
fitting used) plus procedural scenes from a different seed. Each good scalp image
also appears under each controlled degradation (blur, exposure ×0.3 and ×2.5, a
strong colour cast, downscaled to 120 px); it appears as good twice, as rendered and
under a mild, still-usable variation (exposure, white balance, softness, JPEG).

    python bench/photo_check_eval.py          # prints the confusion table and per-reason accuracy
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image

from photo_check.quality import DEGRADATION_KINDS, degrade, mild_variation
from synthetic.scenes import SCENE_KINDS, package_photos, procedural_scene, random_view

CONDITIONS = ("ok",) + DEGRADATION_KINDS + ("not_scalp",)
EVAL_SEED = 20_260_000  # far from any fitting seed


@dataclass(frozen=True)
class EvalItem:
    image: Image.Image
    condition: str  # one of CONDITIONS: what the right verdict/reason is
    source: str


def build_eval_set(n_scalp: int = 24, photo_views: int = 3, scenes_per_kind: int = 5,
                   seed: int = EVAL_SEED) -> list[EvalItem]:
    """Good and degraded generated scalp photos plus held-out non-scalp pictures."""
    from photo_check.fit import render_scalps

    rng = np.random.default_rng(seed)
    items = []
    for i, scalp in enumerate(render_scalps(n_scalp, rng)):
        items.append(EvalItem(scalp, "ok", f"scalp:{i}"))  # as rendered
        items.append(EvalItem(mild_variation(scalp, rng), "ok", f"scalp:{i}"))  # another device/hand
        for kind in DEGRADATION_KINDS:
            items.append(EvalItem(degrade(mild_variation(scalp, rng), kind, rng), kind, f"scalp:{i}"))
    for name, photo in package_photos("heldout").items():
        for _ in range(photo_views):
            items.append(EvalItem(random_view(photo, rng), "not_scalp", name))
    for kind in SCENE_KINDS:
        for j in range(scenes_per_kind):
            items.append(EvalItem(procedural_scene(kind, rng), "not_scalp", f"scene:{kind}:{j}"))
    return items


def predicted_outcome(result) -> str:
    """The single outcome a result stands for: ok, not_scalp, or its first retake reason."""
    if result.verdict == "ok":
        return "ok"
    return result.reasons[0]


def run_eval(checker, items: list[EvalItem]) -> pd.DataFrame:
    """One row per item: condition, source, verdict, reasons, outcome, scalp_score."""
    rows = []
    for item in items:
        result = checker.check(item.image)
        rows.append({"condition": item.condition, "source": item.source, "verdict": result.verdict,
                     "reasons": ",".join(result.reasons), "outcome": predicted_outcome(result),
                     "scalp_score": result.scalp_score})
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame) -> dict:
    """Confusion table (condition × outcome) and the headline rates the tests assert."""
    confusion = pd.crosstab(pd.Categorical(df["condition"], CONDITIONS), pd.Categorical(df["outcome"], CONDITIONS),
                            rownames=["true"], colnames=["predicted"], dropna=False)
    scalp = df[df["condition"] != "not_scalp"]
    per_reason = {}
    for cond in CONDITIONS:
        sub = df[df["condition"] == cond]
        if sub.empty:
            continue
        if cond == "ok":
            hit = sub["verdict"] == "ok"
        elif cond == "not_scalp":
            hit = sub["verdict"] == "not_scalp"
        else:  # the intended reason is among the reasons given, on a photo accepted as scalp
            hit = sub["reasons"].str.split(",").apply(lambda r, c=cond: c in r) & (sub["verdict"] == "retake")
        per_reason[cond] = {"n": int(len(sub)), "accuracy": float(hit.mean())}
    flagged = scalp[scalp["verdict"] == "retake"]
    retake_precision = float((flagged["condition"] != "ok").mean()) if len(flagged) else float("nan")
    degraded = scalp[scalp["condition"] != "ok"]
    return {
        "confusion": confusion,
        "per_reason": per_reason,
        "retake_precision": retake_precision,
        "retake_recall": float((degraded["verdict"] == "retake").mean()),
        "not_scalp_rejected": float((df[df["condition"] == "not_scalp"]["verdict"] == "not_scalp").mean()),
        "good_pass_rate": float((df[df["condition"] == "ok"]["verdict"] == "ok").mean()),
        "scalp_accepted_stage1": float((scalp["verdict"] != "not_scalp").mean()),
    }
