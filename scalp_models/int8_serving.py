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

A copy is retired to fp32 for good (:meth:`Int8Upgrade.retire`, said in the same file) when serving shows
it is not worth keeping:

- **trust:** a shadow re-check saw it move a probability by more than ``quantize.CHECK_MAX_DP``, the bound
  its check holds it to on the check photos: the copy fails its own check on a served photo;
- **cost:** more than ``recheck.retire_share`` of its last answers (at least ``recheck.retire_after`` since
  its margin last changed) were recomputed on fp32. Each of those costs an int8 and an fp32 run, so beyond
  that share int8 costs more CPU than fp32 alone.

Deleting ``<copy>.shift.json`` (or a new recipe, which makes a new copy) gives the copy another chance.
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
from scalp_models.cache_files import copy_of, mark_used, shift_file
from scalp_models.metrics import softmax
from scalp_models.quantize import (
    CHECK_MAX_DP,
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


def load_retirement(path: Path = RULES_FILE) -> tuple[float, int]:
    """``(retire_share, retire_after)``: a copy whose answers were re-checked on fp32 more often than
    ``retire_share`` over at least ``retire_after`` answers is retired to fp32 (``recheck`` in
    ``int8_exclusions.json``, with the measurements behind the share; 1 never retires)."""
    share = _recheck_setting("retire_share", path, one_allowed=True)
    after = json.loads(Path(path).read_text(encoding="utf-8")).get("recheck", {}).get("retire_after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 1:
        raise ValueError(f"{Path(path).name}: recheck.retire_after must be a whole number ≥ 1, got {after!r}")
    return share, after


def near_boundary(probabilities: np.ndarray, margin: float) -> np.ndarray:
    """Rows whose top two probabilities are less than ``margin`` apart: answers a rounding could flip."""
    if margin <= 0.0 or probabilities.shape[1] < 2:
        return np.zeros(len(probabilities), dtype=bool)
    top_two = np.partition(probabilities, -2, axis=1)[:, -2:]
    return (top_two[:, 1] - top_two[:, 0]) < margin


def _remembered(path: Path) -> dict:
    """What ``path`` keeps about a copy (``max_shift``, and ``retired`` once it is); {} when there is no
    file, and an unreadable one is ignored, with a warning."""
    try:
        kept = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(kept, dict):
            raise ValueError("not a JSON object")
        value = kept.get("max_shift", 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 2.0:
            raise ValueError(f"max_shift must be a number in [0, 2], got {value!r}")
        if not isinstance(kept.get("retired", ""), str):
            raise ValueError(f"retired must be a text, got {kept['retired']!r}")
        return kept
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.warning("ignoring the remembered int8 shift in %s (%s)", path, err)
        return {}


def remembered_shift(path: Path) -> float:
    """The shift kept in ``path`` (0 when there is none); an unreadable file is ignored, with a warning."""
    return float(_remembered(path).get("max_shift", 0.0))


def remembered_retirement(path: Path) -> str | None:
    """Why the copy beside ``path`` was retired to fp32 (:meth:`Int8Upgrade.retire`), or None."""
    return _remembered(path).get("retired") or None


def retired_at_start(path: Path, name: str) -> str | None:
    """The error to report (and log) when the int8 copy of ``name`` beside ``path`` was retired on an earlier
    start, so it is not even loaded; None when it may serve."""
    retired = remembered_retirement(path)
    if not retired:
        return None
    for used in (path, copy_of(path)):
        mark_used(used)  # read at every start: `python -m scalp_models cache --prune` must not forget it
    error = (f"the int8 copy of {name} was retired to fp32 while serving ({retired}); deleting {path} gives it "
             "another chance")
    log.warning("%s", error)
    return error


def shadow_draws(draw: random.Random, rate: float, count: int) -> np.ndarray:
    """Which of ``count`` answers get a shadow re-check: each at ``rate``, from the caller's seeded stream
    (one per model, so a run draws the same ones whichever order its threads reach the models in)."""
    return np.array([draw.random() < rate for _ in range(count)], dtype=bool)


def _keep(path: Path, kept: dict, what: str) -> None:
    try:
        kept["seen"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_text_atomically(path, json.dumps(kept, ensure_ascii=False))
    except OSError as err:
        log.warning("could not keep the %s in %s (%s); it holds until the app stops", what, path, err)


def remember_shift(path: Path, shift: float) -> None:
    """Keep ``shift`` in ``path`` unless a wider one is there (another process sharing the cache may have seen
    more); written whole or not at all. A cache that cannot be written keeps it in memory only (warned)."""
    kept = _remembered(path)
    if shift <= kept.get("max_shift", 0.0):
        return
    _keep(path, {**kept, "max_shift": shift}, "widened int8 margin")


def remember_retirement(path: Path, reason: str) -> None:
    """Keep in ``path`` that the copy beside it is retired to fp32, and why (its widest shift stays)."""
    _keep(path, {**_remembered(path), "retired": reason}, "int8 copy's retirement")


class Int8Upgrade:
    """Swaps an ``OnnxRunner``'s fp32 sessions for their checked int8 copies, in a daemon thread, so
    fp32 serves while the copies are built (the first time) or checked (every start).

    The fp32 session of a model stays loaded when its margin (:attr:`margins`) is above 0: the diagnoser
    recomputes on fp32 every int8 answer whose top two probabilities are less than that margin apart
    (:func:`near_boundary`), where int8's rounding could change the severity, and counts them
    (:meth:`record`, :attr:`rechecks`). ``margin``: one fixed margin for every model instead of the
    measured ones (0: no re-check), which also keeps this start from reading or writing what earlier ones
    kept beside the copies (benches and tests); ``temperatures``: key → the model's calibration
    temperature, at which its check compares probabilities. A copy that serving shows is not worth keeping
    is swapped back to fp32 (:meth:`retire`)."""

    def __init__(self, runner, preprocessors: dict[str, tuple[Preprocess, str]], margin: float | None = None,
                 temperatures: dict[str, float] | None = None):
        self.errors: dict[str, str] = {}
        self.checks: dict[str, Int8Check] = {}
        self.margins: dict[str, float] = {}
        self.seconds: float | None = None
        self.fixed_margin = None if margin is None else float(margin)
        self.min_margin = load_recheck_min_margin()
        self.shadow_rate = load_shadow_rate() if self.fixed_margin != 0.0 else 0.0
        self.retire_share, self.retire_after = load_retirement()
        self.temperatures = dict(temperatures or {})
        self._rechecks: dict[str, list[int]] = {}
        self._window: dict[str, list[int]] = {}  # re-checked, answered since the margin last changed
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
                kept = shift_file(int8_path(runner.paths[key], preprocess_id))
                if self.fixed_margin is None:
                    self._shift_files[key] = kept
                    retired = retired_at_start(kept, key)
                    if retired:  # not even loaded: serving showed it is not worth its memory or its check
                        self.errors[key] = retired
                        continue
                try:
                    session, check = ensure_int8(runner.paths[key], preprocess, preprocess_id, name=key,
                                                 threads=runner.intra_threads, fp32_session=runner.sessions[key],
                                                 temperature=self.temperatures.get(key, 1.0))
                except Int8Error as err:
                    self.errors[key] = str(err)
                    log.warning("%s; %s keeps serving fp32", err, key)
                    continue
                margin = self.margin_for(check)
                remembered = remembered_shift(kept) if self.fixed_margin is None else 0.0
                if remembered > margin:
                    log.info("%s: re-check margin %.3f, the widest shift its int8 copy showed on served "
                             "photos (%s), not %.3f from the check photos", key, remembered, kept, margin)
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
        """Count ``key``'s answers and those re-checked on fp32; retire the copy once more than
        :attr:`retire_share` of at least :attr:`retire_after` answers since its margin last changed were
        re-checked, since each costs an int8 and an fp32 run (int8 then costs more than fp32 alone)."""
        with self._count_lock:
            for counts in (self._rechecks.setdefault(key, [0, 0]), self._window.setdefault(key, [0, 0])):
                counts[0] += rechecked
                counts[1] += answered
            share_rechecked, window = None, self._window[key]
            if window[1] >= self.retire_after and window[0] > self.retire_share * window[1]:
                share_rechecked, answers = window[0] / window[1], window[1]
        if share_rechecked is not None:
            self.retire(key, f"{share_rechecked:.0%} of its last {answers} answers were re-checked on fp32, "
                             f"more than the {self.retire_share:.0%} at which int8 costs more than fp32 alone")

    def recheck(self, key: str, precision: str, logits: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """``OnnxRunner.submit``'s callback, in the model's group thread right after it: an int8 model's
        ``logits`` with the rows whose top two probabilities are closer than its margin, and the shadow
        re-checks, recomputed on the fp32 model. int8's rounding moves probabilities by a few hundredths,
        enough to change the severity there and nowhere else (:func:`near_boundary`)."""
        margin = self.margins.get(key, 0.0)
        if precision != "int8" or margin <= 0.0:  # 0: no fp32 session kept, or the copy retired
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
                self.observe(key, pair_shift(fp32, probabilities[shadow]),
                             max_dp=float(np.abs(fp32 - probabilities[shadow]).max()))
        self.record(key, int(rows.sum()), len(rows))
        return logits

    def shadow_rows(self, key: str, count: int) -> np.ndarray:
        """Which of ``count`` answers of ``key`` get a shadow re-check (each at :attr:`shadow_rate`)."""
        with self._count_lock:
            return shadow_draws(self._randoms.setdefault(key, random.Random(f"shadow:{key}")), self.shadow_rate, count)

    def observe(self, key: str, shifts: np.ndarray, max_dp: float = 0.0) -> None:
        """Shadow re-checks' shifts (``quantize.pair_shift``) for ``key``: counted, and the margin widened
        to the largest when it exceeds the margin, since answers that close could have flipped unseen; the
        widened margin is kept beside the copy (:func:`remember_shift`) for the next start. ``max_dp``: the
        largest |Δp| among them; beyond ``quantize.CHECK_MAX_DP`` the copy fails its own check on a served
        photo and is retired (:meth:`retire`)."""
        if not len(shifts):
            return
        if max_dp > CHECK_MAX_DP:
            self.retire(key, f"a shadow re-check saw it move a probability by {max_dp:.3f} on a served photo, "
                             f"more than the {CHECK_MAX_DP} its check allows")
        widened = None
        with self._count_lock:
            seen = self._shadows.setdefault(key, [0, 0.0])
            seen[0] += len(shifts)
            seen[1] = max(seen[1], float(np.max(shifts)))
            margin = self.margins.get(key)
            if margin is not None and seen[1] > margin:
                log.warning("the int8 copy of %s moved two classes' probabilities by %.3f on a photo, more than its "
                            "re-check margin %.3f: the margin is now %.3f", key, seen[1], margin, seen[1])
                self.margins[key] = widened = seen[1]
                self._window[key] = [0, 0]  # a wider margin re-checks more: its share starts afresh
        if widened is not None and key in self._shift_files:  # for the next start (rare, so outside the lock)
            remember_shift(self._shift_files[key], widened)

    def retire(self, key: str, reason: str) -> None:
        """Serve ``key`` on fp32 from now on, and on later starts (said beside the copy, unless the margin is
        fixed): calls already running finish on the int8 copy, whose answers are still re-checked."""
        with self._count_lock:
            if key in self.errors or key not in self.margins or key not in self.runner.reference:
                return  # retired already, or not serving int8 with its fp32 session kept (margin 0)
            self.errors[key] = f"the int8 copy of {key} was retired to fp32 while serving: {reason}"
            self.runner.use_session(key, self.runner.reference[key], "fp32")
            del self.margins[key]
        log.warning("%s", self.errors[key])
        if key in self._shift_files:
            remember_retirement(self._shift_files[key], reason)

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
