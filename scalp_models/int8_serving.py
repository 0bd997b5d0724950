"""Int8 serving: swap a runner's fp32 sessions for their checked int8 copies, and re-check answers near a
class boundary on fp32.

:func:`start_int8` builds or finds each model's int8 copy (``scalp_models.quantize.ensure_int8``) in a
daemon thread and swaps it in once it passes its check, so fp32 serves meanwhile. int8's rounding moves
a probability by a few hundredths (max |Δp| 0.05-0.19 on the demo models' test photos), which changes the
severity only where the top two probabilities are that close. So the fp32 session stays loaded, and the
diagnoser recomputes on it every int8 answer whose top two probabilities are closer than the model's
re-check margin (:func:`near_boundary`).

Each model's margin is measured, not guessed: the largest shift between two classes' probabilities that
its int8 copy showed on the check photos (``Int8Check.max_shift``), at least the recipe's
``recheck.min_margin`` (``int8_exclusions.json``, with the measurements behind it). Where int8's top two
are further apart than a photo's shift, fp32's top class is the same, so the margin follows the copy's
own rounding error: a copy that moves probabilities more gets a wider margin.

The check photos are generated, and a model trained on real photos may shift more on real ones. So a
random ``recheck.shadow_rate`` of the other int8 answers are recomputed on fp32 too ("shadow" re-checks,
fp32's answer served): a shift beyond the margin widens it to that shift, with a logged warning
(:meth:`Int8Upgrade.observe`, :attr:`Int8Upgrade.shadows`). The widest shift seen is kept beside the copy in
the cache (``<copy>.shift.json``, :func:`shift_file`), so a restart starts from it instead of narrowing the
margin back to the check photos' and letting the photos that widened it flip unseen again.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from pathlib import Path

import numpy as np

from scalp_core.paths import write_text_atomically
from scalp_models.metrics import softmax
from scalp_models.quantize import (
    RULES_FILE,
    Int8Check,
    Int8Error,
    Preprocess,
    ensure_int8,
    int8_path,
    pair_shift,
)

log = logging.getLogger(__name__)


def _recheck_setting(name: str, path: Path, one_allowed: bool) -> float:
    value = json.loads(Path(path).read_text(encoding="utf-8")).get("recheck", {}).get(name, 0.0)
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0
            or (value == 1.0 and not one_allowed)):
        raise ValueError(f"{Path(path).name}: recheck.{name} must be a number in [0, 1{']' if one_allowed else ')'}, "
                         f"got {value!r}")
    return float(value)


def load_recheck_min_margin(path: Path = RULES_FILE) -> float:
    """The smallest re-check margin a model gets (its measured one may be wider; see
    ``int8_exclusions.json``'s ``recheck``). Not part of the recipe: it changes no int8 file."""
    return _recheck_setting("min_margin", path, one_allowed=False)


def load_shadow_rate(path: Path = RULES_FILE) -> float:
    """The share of int8 answers beyond the margin that are recomputed on fp32 anyway, to watch the copy's
    shift on real photos (``recheck.shadow_rate``; 0: none)."""
    return _recheck_setting("shadow_rate", path, one_allowed=True)


def near_boundary(probabilities: np.ndarray, margin: float) -> np.ndarray:
    """Rows whose top two probabilities are less than ``margin`` apart: answers a rounding could flip."""
    if margin <= 0.0 or probabilities.shape[1] < 2:
        return np.zeros(len(probabilities), dtype=bool)
    top_two = np.partition(probabilities, -2, axis=1)[:, -2:]
    return (top_two[:, 1] - top_two[:, 0]) < margin


def shift_file(copy_path: Path) -> Path:
    """Where the widest shift that shadow re-checks saw on an int8 copy is kept: beside the copy."""
    return Path(copy_path).with_suffix(".shift.json")


def remembered_shift(path: Path) -> float:
    """The shift kept in ``path`` (0 when there is none); an unreadable file is ignored, with a warning."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))["max_shift"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 2.0:
            raise ValueError(f"max_shift must be a number in [0, 2], got {value!r}")
        return float(value)
    except FileNotFoundError:
        return 0.0
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("ignoring the remembered int8 shift in %s (%s)", path, err)
        return 0.0


def remember_shift(path: Path, shift: float) -> None:
    """Keep ``shift`` in ``path`` unless a wider one is there (another process sharing the cache may have seen
    more); written whole or not at all. A cache that cannot be written keeps it in memory only (warned)."""
    if shift <= remembered_shift(path):
        return
    try:
        seen = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_text_atomically(path, json.dumps({"max_shift": shift, "seen": seen}))
    except OSError as err:
        log.warning("could not keep the widened int8 margin in %s (%s); it holds until the app stops",
                    path, err)


class Int8Upgrade:
    """Swaps an ``OnnxRunner``'s fp32 sessions for their checked int8 copies, in a daemon thread, so
    fp32 serves while the copies are built (the first time) or checked (every start).

    The fp32 session of a model stays loaded when its margin (:attr:`margins`) is above 0: the diagnoser
    recomputes on fp32 every int8 answer whose top two probabilities are less than that margin apart
    (:func:`near_boundary`), where int8's rounding could change the severity, and counts them
    (:meth:`record`, :attr:`rechecks`). ``margin``: one fixed margin for every model instead of the
    measured ones (0: no re-check); ``temperatures``: key → the model's calibration temperature, at
    which its check compares probabilities."""

    def __init__(self, runner, preprocessors: dict[str, tuple[Preprocess, str]], margin: float | None = None,
                 temperatures: dict[str, float] | None = None):
        self.errors: dict[str, str] = {}
        self.checks: dict[str, Int8Check] = {}
        self.margins: dict[str, float] = {}
        self.seconds: float | None = None
        self.fixed_margin = None if margin is None else float(margin)
        self.min_margin = load_recheck_min_margin()
        self.shadow_rate = load_shadow_rate() if self.fixed_margin != 0.0 else 0.0
        self.temperatures = dict(temperatures or {})
        self._rechecks: dict[str, list[int]] = {}
        self._shadows: dict[str, list] = {}
        self._shift_files: dict[str, Path] = {}
        # Which answers get a shadow re-check: one seeded stream per model, so a bench draws the same ones
        # whichever order the runner's threads reach the models in.
        self._randoms: dict[str, random.Random] = {}
        self.runner = runner
        self._count_lock = threading.Lock()
        self._done = threading.Event()
        thread = threading.Thread(target=self._run, args=(preprocessors,), name="int8-upgrade", daemon=True)
        thread.start()

    def _run(self, preprocessors) -> None:
        runner = self.runner
        start = time.perf_counter()
        try:
            for key, (preprocess, preprocess_id) in preprocessors.items():
                try:
                    session, check = ensure_int8(runner.paths[key], preprocess, preprocess_id, name=key,
                                                 threads=runner.intra_threads, fp32_session=runner.sessions[key],
                                                 temperature=self.temperatures.get(key, 1.0))
                except Int8Error as err:
                    self.errors[key] = str(err)
                    log.warning("%s; %s keeps serving fp32", err, key)
                    continue
                self._shift_files[key] = shift_file(int8_path(runner.paths[key], preprocess_id))
                margin = self.margin_for(check)
                remembered = remembered_shift(self._shift_files[key]) if self.fixed_margin is None else 0.0
                if remembered > margin:
                    log.info("%s: re-check margin %.3f, the widest shift its int8 copy showed on served "
                             "photos (%s), not %.3f from the check photos", key, remembered,
                             self._shift_files[key], margin)
                    margin = remembered
                self.margins[key] = margin  # before the swap: the first int8 answer reads it
                runner.use_session(key, session, "int8", keep_reference=self.margins[key] > 0)
                self.checks[key] = check
        finally:
            self.seconds = time.perf_counter() - start
            log.info("int8 ready: %d of %d models serve int8 (%.1f s); re-check margins %s", len(self.checks),
                     len(preprocessors), self.seconds, {key: round(m, 3) for key, m in self.margins.items()})
            self._done.set()

    def margin_for(self, check: Int8Check) -> float:
        """The re-check margin of a model whose copy passed ``check``: the fixed one when given, else the
        largest shift its check photos showed, at least the recipe's ``min_margin``."""
        return self.fixed_margin if self.fixed_margin is not None else max(self.min_margin, check.max_shift)

    def wait(self, timeout: float | None = None) -> bool:
        """True once every model has its int8 copy or its logged reason for keeping fp32."""
        return self._done.wait(timeout)

    def record(self, key: str, rechecked: int, answered: int) -> None:
        with self._count_lock:
            counts = self._rechecks.setdefault(key, [0, 0])
            counts[0] += rechecked
            counts[1] += answered

    def recheck(self, key: str, precision: str, logits: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """``OnnxRunner.submit``'s callback, in the model's group thread right after it: an int8 model's
        ``logits`` with the rows whose top two probabilities are closer than its margin, and the shadow
        re-checks, recomputed on the fp32 model. int8's rounding moves probabilities by a few hundredths,
        enough to change the severity there and nowhere else (:func:`near_boundary`)."""
        margin = self.margins.get(key, 0.0)
        if precision != "int8" or margin <= 0.0:  # 0: no fp32 session kept
            return logits
        temperature = self.temperatures.get(key, 1.0)
        probabilities = softmax(np.asarray(logits, np.float64) / temperature)
        rows = near_boundary(probabilities, margin)
        shadow = self.shadow_rows(key, len(rows)) & ~rows
        recompute = rows | shadow
        if recompute.any():
            reference = self.runner.run_reference(key, pixels[recompute])
            logits = logits.copy()
            logits[recompute] = reference
            if shadow.any():
                fp32 = softmax(np.asarray(reference[shadow[recompute]], np.float64) / temperature)
                self.observe(key, pair_shift(fp32, probabilities[shadow]))
        self.record(key, int(rows.sum()), len(rows))
        return logits

    def shadow_rows(self, key: str, count: int) -> np.ndarray:
        """Which of ``count`` answers of ``key`` get a shadow re-check (each at :attr:`shadow_rate`)."""
        with self._count_lock:
            draw = self._randoms.setdefault(key, random.Random(f"shadow:{key}")).random
            return np.array([draw() < self.shadow_rate for _ in range(count)], dtype=bool)

    def observe(self, key: str, shifts: np.ndarray) -> None:
        """Shadow re-checks' shifts (``quantize.pair_shift``) for ``key``: counted, and the margin widened
        to the largest when it exceeds the margin, since answers that close could have flipped unseen; the
        widened margin is kept beside the copy (:func:`remember_shift`) for the next start."""
        if not len(shifts):
            return
        widened = None
        with self._count_lock:
            seen = self._shadows.setdefault(key, [0, 0.0])
            seen[0] += len(shifts)
            seen[1] = max(seen[1], float(np.max(shifts)))
            if seen[1] > self.margins[key]:
                log.warning("the int8 copy of %s moved two classes' probabilities by %.3f on a photo, more than its "
                            "re-check margin %.3f: the margin is now %.3f", key, seen[1], self.margins[key], seen[1])
                self.margins[key] = widened = seen[1]
        if widened is not None and key in self._shift_files:  # for the next start (rare, so outside the lock)
            remember_shift(self._shift_files[key], widened)

    @property
    def shadows(self) -> dict[str, tuple[int, float]]:
        """Symptom key → (shadow re-checks, the largest shift they found) since start."""
        with self._count_lock:
            return {key: (seen[0], seen[1]) for key, seen in self._shadows.items()}

    @property
    def rechecks(self) -> dict[str, tuple[int, int]]:
        """Symptom key → (int8 answers recomputed on fp32, int8 answers given) since start."""
        with self._count_lock:
            return {key: (counts[0], counts[1]) for key, counts in self._rechecks.items()}


def start_int8(runner, preprocessors: dict[str, tuple[Preprocess, str]], margin: float | None = None,
               temperatures: dict[str, float] | None = None) -> Int8Upgrade:
    """Start upgrading ``runner`` (an ``OnnxRunner``) to int8; ``preprocessors``: key → (preprocess, id);
    ``margin``: one re-check margin for all (default: each model's measured one, see :class:`Int8Upgrade`)."""
    return Int8Upgrade(runner, preprocessors, margin, temperatures)
