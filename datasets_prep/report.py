"""The build report: ``OUT/report.json`` (everything) and ``OUT/report.md`` (the same, readable).

Written by ``python -m datasets_prep build``; lists what was found (and whether it is a
synthetic ``datasets_prep simulate`` download), how the split was made and its subjects and
images per split, the evaluation split and how many of its subjects were seen in training,
images and subjects per class, split and symptom, duplicates, conflicts, every skipped file with
its reason, the subject-leakage check and the effective configuration.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from datasets_prep.discovery import Download
from datasets_prep.splits import EVALUATION_SPLIT, OUTPUT_SPLITS, original_bytes_splits
from scalp_core.symptoms import SYMPTOMS, class_names

MD_LIST_LIMIT = 200  # report.md shortens long lists; report.json always has them all


def make_report(
    config,
    found,
    download: Download,
    skipped,
    conflicts,
    warnings,
    duplicates,
    splits,
    class_counts,
    metadata_files,
    split_counts=None,
) -> dict:
    """Assemble the report dict (JSON-serialisable); ``config`` is the build's ``BuildConfig``.

    ``splits`` is :func:`datasets_prep.splits.assign_splits`'s section (None when nothing was usable).
    """
    sources = download.sources
    splits = dict(splits or {})
    leakage = splits.pop("leakage", {})
    effective = config.to_json()
    effective["synthetic"] = download.synthetic
    effective["variants"] = {
        spec.key: {"shorter_side": config.variant_for(spec)[0], "grayscale": config.variant_for(spec)[1]}
        for spec in SYMPTOMS
    }
    effective["class_names"] = list(class_names(config.labels))
    effective["splits"] = list(OUTPUT_SPLITS)
    effective["split_rule"] = splits.get("rule", "")
    effective["evaluation_split"] = EVALUATION_SPLIT[config.protocol]
    effective["evaluation_subjects_seen_in_training"] = splits.get("evaluation_subjects_seen_in_training")
    effective["original_bytes_splits"] = list(original_bytes_splits(config.protocol))
    return {
        "config": effective,
        "found": {
            "split_dirs": found,
            "sources": sorted(f"{s.split}: {s.path}" for s in sources),
            "n_sources": len(sources),
            "metadata_files_ignored": metadata_files,
        },
        "split_counts": split_counts or {},
        "splits": splits,
        "class_counts": class_counts,
        "duplicates": duplicates or {},
        "conflicts": conflicts,
        "n_conflicts": len(conflicts),
        "skipped": skipped,
        "skipped_counts": dict(Counter(item["category"] for item in skipped)),
        "leakage": leakage,
        "warnings": warnings,
    }


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def _split_lines(report: dict) -> list[str]:
    """The ``## Splits`` section: how the split was made, then subjects and images per split."""
    splits, config = report["splits"], report["config"]
    if not splits:
        return []
    originals = set(config["original_bytes_splits"])
    subjects, images = splits["subjects"], splits["images"]
    lines = ["", "## Splits", "", splits["rule"] + ".", ""]
    lines.append("| split | subjects | images | share of subjects | share of images | stored images |")
    lines.append("|---|---|---|---|---|---|")
    for split in OUTPUT_SPLITS:
        stored = "original bytes" if split in originals else "resized JPEG"
        lines.append(
            f"| {split} | {subjects[split]} | {images[split]} | {_share(subjects[split], sum(subjects.values()))} "
            f"| {_share(images[split], sum(images.values()))} | {stored} |"
        )
    return lines


def render_markdown(report: dict) -> str:
    config = report["config"]
    synthetic = " (synthetic: written by `datasets_prep simulate`, not AI Hub data)" if config["synthetic"] else ""
    lines = [
        "# AI Hub 유형별 두피 이미지: build report",
        "",
        f"- source: `{config['aihub_root']}`{synthetic}; protocol **{config['protocol']}**; "
        f"label scheme {config['labels']}; seed {config['seed']}; "
        f"validation fraction {config['validation_fraction']}; test fraction {config['test_fraction']}",
        f"- Training folders: {report['found']['split_dirs'].get('train') or 'none'}; "
        f"Validation folders: {report['found']['split_dirs'].get('validation') or 'none'}; "
        f"{report['found']['n_sources']} [원천]/[라벨] folders or zips; "
        f"{report['found']['metadata_files_ignored']} _META.json files ignored; top level of the source: "
        f"{', '.join(report['found']['split_dirs'].get('top_level_entries', [])) or 'empty'}",
        f"- split sizes (unique images): {report['split_counts'] or 'none'}",
    ]
    duplicates = report["duplicates"]
    if duplicates:
        lines.append(
            f"- duplicates: {duplicates['folder_entries']} [원천] folder entries → "
            f"{duplicates['unique_images']} unique images "
            f"({duplicates['unique_images_with_copies']} images sit in more than one folder)"
        )
    splits = report["splits"]
    if splits:
        evaluation = splits["evaluation_split"]
        seen = splits["evaluation_subjects_seen_in_training"]
        line = (
            f"- evaluation split: **{evaluation}**, {splits['evaluation_subjects']} subjects, "
            f"**{seen} of them seen in training**"
        )
        if seen:
            line += (
                " (AI Hub Validation, as in the seed's evaluation): its numbers are NOT a measure on people "
                "the models have never seen; compare them only with the seed's. The full protocol's test is."
            )
        else:
            line += ": no subject of it is in train or validation."
        lines.append(line)
    leakage = report["leakage"]
    if leakage:
        final = leakage["final"]
        aihub = leakage["aihub_training_vs_validation"]
        lines.append(
            f"- subjects in more than one split: {final['leak_count']}{' ' + str(final['pairs']) if final['pairs'] else ''}; "
            f"AI Hub Training vs Validation: {aihub['leak_count']} subjects in both folders, "
            f"{aihub['names_in_both']} names in both; {len(leakage['test_subjects'])} subjects in test"
        )
    lines += _split_lines(report)
    if report["class_counts"]:
        lines += ["", "## Class counts", "", "Images (subjects) per class.", ""]
        names = config["class_names"]
        lines.append("| symptom | split | subjects | " + " | ".join(names) + " | grades 0/1/2/3 |")
        lines.append("|---" * (len(names) + 4) + "|")
        for key, per_split in report["class_counts"].items():
            for split, counts in per_split.items():
                grades = "/".join(str(counts["grades"].get(str(g), 0)) for g in range(4))
                cells = [f"{counts[n]} ({counts['subjects'][n]})" for n in names]
                lines.append(f"| {key} | {split} | {counts['n_subjects']} | " + " | ".join(cells) + f" | {grades} |")
    sections = [
        ("Skipped files", report["skipped"], lambda s: f"- `{s['path']}`: {s['reason']}"),
        ("Conflicts", report["conflicts"], lambda c: f"- `{c['image']}`: {c['conflict']}"),
        ("Warnings", report["warnings"], lambda w: f"- {w}"),
    ]
    for title, items, fmt in sections:
        lines += ["", f"## {title} ({len(items)})", ""]
        if title == "Skipped files" and items:
            lines.append("By reason: " + ", ".join(f"{k} {v}" for k, v in report["skipped_counts"].items()))
            lines.append("")
        lines += [fmt(item) for item in items[:MD_LIST_LIMIT]]
        if len(items) > MD_LIST_LIMIT:
            lines.append(f"- … {len(items) - MD_LIST_LIMIT} more in report.json")
    if leakage and leakage["final"]["subjects"]:
        lines += ["", "## Subjects in more than one split", ""]
        items = list(leakage["final"]["subjects"].items())
        lines += [f"- {subject}: {', '.join(where)}" for subject, where in items[:MD_LIST_LIMIT]]
    lines += [
        "",
        "## Effective configuration",
        "",
        "```json",
        json.dumps(config, ensure_ascii=False, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def write_reports(out: Path, report: dict) -> None:
    out = Path(out)
    (out / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
