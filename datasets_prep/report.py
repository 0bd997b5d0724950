"""The build report: ``OUT/report.json`` (everything) and ``OUT/report.md`` (the same, readable).

Written by ``python -m datasets_prep build``; lists what was found (and whether it is a
synthetic ``datasets_prep simulate`` download), class counts per split and symptom,
duplicates, conflicts, every skipped file with its reason, the subject-leakage check and
the effective configuration.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from datasets_prep.discovery import Download
from datasets_prep.splits import OUTPUT_SPLITS
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
    leakage,
    class_counts,
    metadata_files,
    split_counts=None,
) -> dict:
    """Assemble the report dict (JSON-serialisable); ``config`` is the build's ``BuildConfig``."""
    sources = download.sources
    effective = config.to_json()
    effective["synthetic"] = download.synthetic
    effective["variants"] = {
        spec.key: {"shorter_side": config.variant_for(spec)[0], "grayscale": config.variant_for(spec)[1]}
        for spec in SYMPTOMS
    }
    effective["class_names"] = list(class_names(config.labels))
    effective["splits"] = list(OUTPUT_SPLITS)
    effective["test_split"] = "carved from AI Hub Training by subject (whole subjects, seeded)"
    return {
        "config": effective,
        "found": {
            "split_dirs": found,
            "sources": sorted(f"{s.split}: {s.path}" for s in sources),
            "n_sources": len(sources),
            "metadata_files_ignored": metadata_files,
        },
        "split_counts": split_counts or {},
        "class_counts": class_counts,
        "duplicates": duplicates or {},
        "conflicts": conflicts,
        "n_conflicts": len(conflicts),
        "skipped": skipped,
        "skipped_counts": dict(Counter(item["category"] for item in skipped)),
        "leakage": leakage or {},
        "warnings": warnings,
    }


def render_markdown(report: dict) -> str:
    config = report["config"]
    synthetic = " (synthetic: written by `datasets_prep simulate`, not AI Hub data)" if config["synthetic"] else ""
    lines = [
        "# AI Hub 유형별 두피 이미지: build report",
        "",
        f"- source: `{config['aihub_root']}`{synthetic}; protocol **{config['protocol']}**; "
        f"label scheme {config['labels']}; "
        f"seed {config['seed']}; test fraction {config['test_fraction']}",
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
    leakage = report["leakage"]
    if leakage:
        final = leakage["final"]
        aihub = leakage["aihub_training_vs_validation"]
        lines.append(
            f"- subject leakage after the split: {final['leak_count']} subjects {final['pairs'] or ''}; "
            f"AI Hub Training vs Validation alone: {aihub['leak_count']} subjects; "
            f"{len(leakage['test_subjects'])} subjects moved to test"
        )
    if report["class_counts"]:
        lines += ["", "## Class counts", ""]
        names = config["class_names"]
        lines.append("| symptom | split | " + " | ".join(names) + " | grades 0/1/2/3 |")
        lines.append("|---" * (len(names) + 3) + "|")
        for key, per_split in report["class_counts"].items():
            for split, counts in per_split.items():
                grades = "/".join(str(counts["grades"].get(str(g), 0)) for g in range(4))
                lines.append(
                    f"| {key} | {split} | " + " | ".join(str(counts[n]) for n in names) + f" | {grades} |"
                )
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
        lines += [f"- {subject}: {', '.join(splits)}" for subject, splits in items[:MD_LIST_LIMIT]]
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
