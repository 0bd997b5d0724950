"""Writing the per-symptom ``DatasetDict``s (``OUT/<symptom key>/``) from the decoded images.

The last data step of ``python -m datasets_prep build``: for each of the six symptoms and
each split, the rows chosen by :func:`datasets_prep.splits.protocol_rows` are written with
their image, class label, raw grade, ``image_id`` and ``subject``, then saved with
``DatasetDict.save_to_disk``. Train and validation images are the resized JPEGs of the
:mod:`datasets_prep.decoding` cache (small, for training speed); the evaluation splits
(``original_splits``: test, and the folder protocol's validation) hold the ORIGINAL file bytes,
neither re-encoded nor resized, so that evaluation sees a photo exactly as serving does.
"""

from __future__ import annotations

import shutil
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from datasets_prep.decoding import close_archives, read_member_bytes, variant_file_name
from datasets_prep.splits import OUTPUT_SPLITS, protocol_rows
from scalp_core.symptoms import SYMPTOMS, class_names, grade_to_class


@contextmanager
def _datasets_progress_hidden():
    """Hide the per-split 'Saving the dataset' bars under our own per-symptom bar."""
    from datasets.utils import logging as datasets_logging  # heavy; only a build that writes needs it

    was_enabled = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            datasets_logging.enable_progress_bar()


def write_symptom_datasets(
    frame: pd.DataFrame,
    cache_dir: Path,
    out: Path,
    *,
    labels: int,
    protocol: str,
    variant_of: dict[str, tuple[int, bool]],
    originals: dict[str, tuple[str, str | None]],
    original_splits: tuple[str, ...],
    warnings: list[str],
) -> dict:
    """Write ``out/<key>/`` for every symptom; return class counts (images and subjects) per symptom and split.

    ``frame`` is the unique-image table with its final splits, ``cache_dir`` holds the
    :func:`datasets_prep.decoding.decode_all` tables, and ``variant_of`` maps each symptom key
    to its stored (shorter side, grayscale) variant. Splits in ``original_splits`` store each
    image's original bytes, read from where ``originals`` (stem → path, zip member) says.
    """
    # datasets is heavy (about a second to import); only a build that got this far needs it.
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    from datasets import Image as ImageFeature
    from datasets.arrow_writer import ArrowWriter

    names = list(class_names(labels))
    features = Features(
        {
            "image": ImageFeature(),
            "label": ClassLabel(names=names),
            "grade": Value("int64"),
            "image_id": Value("string"),
            "subject": Value("string"),
        }
    )
    tables = {}
    for variant in set(variant_of.values()):
        source = pa.memory_map(str(cache_dir / variant_file_name(variant)))
        table = pa.ipc.open_file(source).read_all()
        # stem -> (chunk, row in chunk): indexing a ChunkedArray by global row scans its chunks.
        where = {}
        for chunk_no, chunk in enumerate(table.column("stem").chunks):
            where.update((stem, (chunk_no, row)) for row, stem in enumerate(chunk.to_pylist()))
        tables[variant] = (table, where)

    stems = frame["file_name"].str.slice(0, -4)
    class_counts: dict = {}
    try:
        for spec in tqdm(SYMPTOMS, desc="writing per-symptom datasets", unit="symptom"):
            table, index = tables[variant_of[spec.key]]
            jpeg_chunks = table.column("jpeg").chunks
            target = out / spec.key
            shutil.rmtree(target, ignore_errors=True)
            splits = {}
            counts = {}
            for split in OUTPUT_SPLITS:
                rows = protocol_rows(frame[frame["split"] == split], stems, spec, protocol, warnings)
                path = cache_dir / f"{spec.key}-{split}.arrow"
                with ArrowWriter(features=features, path=str(path)) as writer:
                    for stem, image_id, subject, grade in rows:
                        if split in original_splits:
                            image_bytes = read_member_bytes(*originals[stem])
                        else:
                            image_bytes = jpeg_chunks[index[stem][0]][index[stem][1]].as_py()
                        example = {
                            "image": {"bytes": image_bytes, "path": None},
                            "label": grade_to_class(grade, labels),
                            "grade": grade,
                            "image_id": image_id,
                            "subject": subject,
                        }
                        writer.write(features.encode_example(example))
                    writer.finalize()
                if rows:
                    splits[split] = Dataset.from_file(str(path))
                else:  # an Arrow file without batches saves as 0 shards, which load_from_disk cannot read
                    splits[split] = Dataset.from_dict({name: [] for name in features}, features=features)
                label_counts = Counter(grade_to_class(g, labels) for *_, g in rows)
                counts[split] = {names[i]: int(label_counts.get(i, 0)) for i in range(len(names))}
                counts[split]["grades"] = {
                    str(g): int(c) for g, c in sorted(Counter(g for *_, g in rows).items())
                }
                subjects_of = {i: {subject for _, _, subject, g in rows if grade_to_class(g, labels) == i}
                               for i in range(len(names))}
                counts[split]["subjects"] = {names[i]: len(subjects_of[i]) for i in range(len(names))}
                counts[split]["n_subjects"] = len({subject for _, _, subject, _ in rows})
            with _datasets_progress_hidden():
                DatasetDict(splits).save_to_disk(
                    str(target), num_shards={split: 1 for split, data in splits.items() if len(data) == 0} or None
                )
            class_counts[spec.key] = counts
            del splits
    finally:
        close_archives()  # the zips the original-bytes splits were read from
    return class_counts
