"""Push a ``datasets_prep build`` folder to a PRIVATE Hub dataset repo, one config per symptom.

The AI Hub '유형별 두피 이미지' terms allow use only by Korean users whose application was
granted and forbid redistribution, so the repo is always private: a public push is refused
before any network access, and an existing PUBLIC repo of that name is refused before anything
is uploaded (creating it "private" would not hide it). Each ``<symptom key>/`` DatasetDict goes up
with ``DatasetDict.push_to_hub(repo, config_name=key, private=True)``, so
``datasets.load_dataset(repo, key)`` loads it; then one more commit adds ``images.parquet``,
``report.md``, ``report.json``, ``prep_config.json`` and the dataset card
(``dataset_card_template.md``). A failed push says so in one line and leaves the prepared folder
as it was, ready to push again.

    python -m hub_upload dataset --source prepared --repo me/scalp-aihub216 [--dry-run]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
from huggingface_hub import CommitOperationAdd, DatasetCard, DatasetCardData, HfApi

from hub_upload.naming import check_repo_id
from hub_upload.push_result import Printer, PushResult
from hub_upload.secrets import HubUploadError, scrubbed_errors
from scalp_core.cli import help_field
from scalp_core.contracts import PrepConfig, read_prep_config
from scalp_core.symptoms import SYMPTOMS
from scalp_core.terms import AIHUB_TERMS, AIHUB_URL, public_dataset_repo_refusal

TEMPLATE_PATH = Path(__file__).with_name("dataset_card_template.md")
# The build's files beside the per-symptom folders, pushed (when present) in the card's commit.
EXTRA_FILES = {
    "images.parquet": "every unique image with its six labels, subject and split",
    "report.md": "what the build kept, skipped and why (for people)",
    "report.json": "the same report for programs",
    "prep_config.json": "how the build was run (protocol, label scheme, sizes, seed)",
}


class PublicPushRefused(HubUploadError):
    """A public push of AI Hub data was asked for, or the repo is PUBLIC; refused before any upload."""


@dataclass(frozen=True)
class DatasetPushConfig:
    source: Path = help_field("a `python -m datasets_prep build` output folder")
    repo: str = help_field("dataset repo id namespace/name; always private")
    public: bool = help_field("asking for public is refused (AI Hub terms)", default=False)
    dry_run: bool = help_field("print the configs and files, touch no network", default=False)
    commit_message: str = help_field(
        "title of the commit that adds the card and the build's files",
        default="Upload prepared AI Hub 216 scalp data (private)",
    )

    def __post_init__(self):
        object.__setattr__(self, "source", Path(self.source))
        check_repo_id(self.repo)


def refuse_public_dataset(public: bool) -> None:
    """Raise :class:`PublicPushRefused`, citing the AI Hub terms, when a public push is asked for."""
    if public:
        raise PublicPushRefused(
            f"Refusing to push the prepared dataset publicly. {AIHUB_TERMS} "
            "A public repo would redistribute it. "
            f"Push without --public: hub_upload only ever creates a PRIVATE dataset repo. ({AIHUB_URL})"
        )


def prepared_configs(source: Path) -> dict[str, Path]:
    """Symptom key → ``source/<key>/`` for every prepared DatasetDict, in the table's order."""
    if not source.is_dir():
        raise HubUploadError(
            f"dataset source {source} is not a folder; run `python -m datasets_prep build` first"
        )
    configs = {s.key: source / s.key for s in SYMPTOMS if (source / s.key / "dataset_dict.json").is_file()}
    if not configs:
        raise HubUploadError(
            f"{source} is not a datasets_prep build output (no <symptom key>/dataset_dict.json); "
            "run `python -m datasets_prep build --out DIR` first"
        )
    return configs


def dataset_card(
    repo: str, prep: PrepConfig, splits: dict[str, dict[str, int]], extra_files: list[str], metadata: dict
) -> str:
    """The dataset card: ``metadata`` (what the config pushes wrote: ``configs``, ``dataset_info``)
    with the licence and tags added, and a body saying how the data was built, every config's splits
    and the extra files."""
    data = DatasetCardData(
        **{
            **metadata,
            "license": "other",
            "license_name": "aihub-216-terms",
            "license_link": AIHUB_URL,
            "task_categories": ["image-classification"],
            "tags": ["scalp", "aihub-216", "private"] + (["synthetic-data"] if prep.synthetic else []),
        }
    )
    by_key = {s.key: s for s in SYMPTOMS}
    configs = [{"key": k, "ko": by_key[k].ko, "en": by_key[k].en, "splits": v} for k, v in splits.items()]
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
    )
    return env.from_string(TEMPLATE_PATH.read_text(encoding="utf-8")).render(
        front_matter=data.to_yaml(),
        repo=repo,
        prep=prep,
        configs=configs,
        extra_files=extra_files,
        extra_descriptions=EXTRA_FILES,
        aihub_terms=AIHUB_TERMS,
        aihub_url=AIHUB_URL,
    )


def push_dataset(config: DatasetPushConfig, token: str | None = None, out: Printer = print) -> PushResult:
    """Push a prepared dataset folder to a PRIVATE dataset repo; refuses public, and existing public repos."""
    refuse_public_dataset(config.public)  # before anything else, network included
    configs = prepared_configs(config.source)
    prep = read_prep_config(config.source)
    extra = [name for name in EXTRA_FILES if (config.source / name).is_file()]
    files = ("README.md", *extra)
    from datasets import load_from_disk  # heavy (pyarrow, pandas): only once a dataset push runs

    dataset_dicts = {key: load_from_disk(str(folder)) for key, folder in configs.items()}  # memory-mapped
    splits = {key: {name: split.num_rows for name, split in dd.items()} for key, dd in dataset_dicts.items()}
    if config.dry_run:
        out(
            f"[dry-run] would push {len(configs)} configs and {len(files)} files "
            f"to PRIVATE dataset repo {config.repo}:"
        )
        for key, rows in splits.items():
            out(f"  config {key}: " + ", ".join(f"{split} {n} rows" for split, n in rows.items()))
        for name in files:
            out(f"  {name}")
        out("----- README.md (the configs' `configs`/`dataset_info` metadata is added by their pushes) -----")
        out(dataset_card(config.repo, prep, splits, extra, {}))
        return PushResult(config.repo, "dataset", None, "main", files, tuple(configs))

    api, pushed = HfApi(token=token), []
    try:
        with scrubbed_errors(f"pushing dataset {config.repo}"):
            refusal = public_dataset_repo_refusal(
                api, config.repo, "Make it private on the Hub or pick another repo."
            )
            if refusal:
                raise PublicPushRefused(refusal)
            api.create_repo(config.repo, repo_type="dataset", private=True, exist_ok=True)
            for key, dataset_dict in dataset_dicts.items():
                dataset_dict.push_to_hub(
                    config.repo,
                    config_name=key,
                    private=True,
                    token=token,
                    commit_message=f"Upload config {key}",
                )
                pushed.append(key)
            written = DatasetCard.load(config.repo, repo_type="dataset", token=token).data.to_dict()
            card = dataset_card(config.repo, prep, splits, extra, written)
            operations = [CommitOperationAdd("README.md", card.encode("utf-8"))]
            operations += [CommitOperationAdd(name, str(config.source / name)) for name in extra]
            commit = api.create_commit(
                config.repo, operations, repo_type="dataset", commit_message=config.commit_message
            )
    except PublicPushRefused:
        raise
    except HubUploadError as err:
        done = f" Configs already pushed: {', '.join(pushed)}." if pushed else ""
        raise HubUploadError(
            f"{err}{done} Nothing in {config.source} was changed: the prepared folder is complete. Once the "
            f"cause is fixed, push it again with `python -m hub_upload dataset --source {config.source} "
            f"--repo {config.repo}`."
        ) from None
    out(f"pushed PRIVATE dataset {config.repo} (configs {', '.join(pushed)}) commit {commit.oid}")
    return PushResult(config.repo, "dataset", commit.oid, "main", files, tuple(pushed))
