"""Decoding every unique image once, into every stored size, across worker processes.

The third step of ``python -m datasets_prep build``. :func:`decode_all` decodes each unique
image once (trying its copies in a stable order until one decodes), resizes it to every
variant the six symptoms need (shorter side in pixels, grayscale or not) and writes
``<cache>/<variant>.arrow`` tables of JPEG bytes, which :mod:`datasets_prep.writing` turns
into the per-symptom datasets. It also says which copy of each image decoded, so that the splits
stored as the original bytes (:func:`read_member_bytes`) take exactly that file. A copy that does
not decode goes to the skip log with its reason. Worker processes import only this module, so it
keeps its imports light.
"""

from __future__ import annotations

import io
import multiprocessing
import zipfile
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from datasets_prep.discovery import Member, SkipLog
from scalp_core.aihub_names import zip_member_name

# Open archives of this process, kept while decoding so each zip is opened once per worker.
_ZIP_CACHE: dict[str, tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]] = {}


def variant_file_name(variant: tuple[int, bool]) -> str:
    """The cache file of one variant, e.g. ``240_RGB.arrow`` or ``240_L.arrow`` (grayscale)."""
    size, grayscale = variant
    return f"{size}_{'L' if grayscale else 'RGB'}.arrow"


def read_member_bytes(path: str, member: str | None) -> bytes:
    """The bytes of a plain file (``member`` None) or of a zip member, exactly as stored.

    Archives stay open in this process until :func:`close_archives`, so reading many members
    opens each zip once.
    """
    if member is None:
        return Path(path).read_bytes()
    cached = _ZIP_CACHE.get(path)
    if cached is None:
        archive = zipfile.ZipFile(path)
        cached = (archive, {zip_member_name(info): info for info in archive.infolist()})
        _ZIP_CACHE[path] = cached
    archive, infos = cached
    return archive.read(infos[member])  # checks the CRC


def _target_size(width: int, height: int, shorter: int) -> tuple[int, int]:
    scale = shorter / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resize_shorter(image: Image.Image, shorter: int) -> Image.Image:
    """Resize so the shorter side is ``shorter``; integer reductions use the fast exact box ``reduce``."""
    target = _target_size(*image.size, shorter)
    if target == image.size:
        return image
    factor = min(image.size) // shorter
    if factor >= 2 and min(image.size) == factor * shorter and max(image.size) % factor == 0:
        return image.reduce(factor)
    return image.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)


def decode_variants(data: bytes, variants: tuple[tuple[int, bool], ...], quality: int) -> dict:
    """Decode a JPEG once and return ``{(shorter side, grayscale): (jpeg bytes, w, h)}``.

    The decode is complete (``load``), so a truncated file raises (PIL's
    ``LOAD_TRUNCATED_IMAGES`` is left False). ``draft`` lets libjpeg decode at a reduced
    DCT scale when every variant is much smaller than the original.
    """
    with Image.open(io.BytesIO(data)) as image:
        if image.format != "JPEG":
            raise ValueError(f"not a JPEG but {image.format}")
        largest = max(size for size, _ in variants)
        image.draft("RGB", _target_size(*image.size, largest))
        image.load()
        base = image.convert("RGB") if image.mode != "RGB" else image.copy()
    resized: dict[int, Image.Image] = {}
    out = {}
    for size, grayscale in sorted(variants, reverse=True):
        if size not in resized:
            # Never upscale: a 640×480 photo stays 480 px short for 모낭사이홍반's 600 px input; the
            # model's image processor does that resize. Upscaling here would store 1.6× the pixels
            # and was 40 % of the build's time, with nothing gained.
            resized[size] = _resize_shorter(base, min(size, min(base.size)))
        picture = resized[size].convert("L") if grayscale else resized[size]
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=quality)
        out[(size, grayscale)] = (buffer.getvalue(), picture.width, picture.height)
    return out


def _decode_task(task):
    """Worker: try each copy of one unique image; return the first that decodes and its variants."""
    stem, candidates, variants, quality = task
    failures = []
    for path, member in candidates:
        try:
            data = read_member_bytes(path, member)
            return stem, (path, member), decode_variants(data, variants, quality), failures
        except UnidentifiedImageError:
            location = f"{path}::{member}" if member is not None else path
            failures.append(
                (location, "corrupt image: not decodable image data (empty or not a JPEG)", "corrupt_image")
            )
        except zipfile.BadZipFile as error:  # e.g. "Bad CRC-32": the archive is damaged, not the JPEG
            failures.append((f"{path}::{member}", f"unreadable zip member: {error}", "unreadable_zip"))
        except Exception as error:  # noqa: BLE001 - any decoding failure means: skip this copy, say why
            location = f"{path}::{member}" if member is not None else path
            failures.append((location, f"corrupt image: {type(error).__name__}: {error}", "corrupt_image"))
    return stem, None, None, failures


def decode_all(
    records: dict[str, dict],
    variants: tuple[tuple[int, bool], ...],
    cache_dir: Path,
    skips: SkipLog,
    *,
    workers: int,
    jpeg_quality: int,
) -> dict[str, tuple[str, str | None]]:
    """Decode each unique image once into every variant; write ``cache_dir/<variant>.arrow`` files.

    ``records`` maps stem → record with the image's ``copies`` (:class:`Member` list). Returns
    stem → (path, zip member or None) of the copy that decoded, for every stem that did (so its
    original bytes can be stored as they are); every copy that failed is in ``skips`` with its reason.
    """
    import pyarrow as pa  # here, not at the top: the worker processes that import this module never need it

    def candidates(copies: list[Member]):
        # Plain files first (cheapest), then zip members; sorted for a stable choice.
        return sorted(
            ((str(m.file), None) if m.file else (str(m.source.path), m.name) for m in copies),
            key=lambda c: (c[1] is not None, c[0], c[1] or ""),
        )

    tasks = [(stem, candidates(r["copies"]), variants, jpeg_quality) for stem, r in records.items()]
    tasks.sort(key=lambda t: t[1][0])  # group by zip so each worker reuses its open archives
    schema = pa.schema(
        [("stem", pa.string()), ("jpeg", pa.binary()), ("width", pa.int32()), ("height", pa.int32())]
    )
    writers = {v: pa.ipc.new_file(str(cache_dir / variant_file_name(v)), schema) for v in variants}
    buffers = {v: [] for v in variants}
    done: dict[str, tuple[str, str | None]] = {}

    def flush(force=False):
        for v, rows in buffers.items():
            if rows and (force or len(rows) >= 256):
                writers[v].write_table(pa.Table.from_pylist(rows, schema=schema))
                rows.clear()

    if workers > 1 and len(tasks) > 1:
        # forkserver (spawn where it is missing): forking a process that already runs pyarrow's
        # threads can deadlock; the workers need only PIL and zipfile.
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        pool = multiprocessing.get_context(method).Pool(workers)
        iterator = pool.imap_unordered(
            _decode_task, tasks, chunksize=max(1, min(64, len(tasks) // (workers * 8)))
        )
    else:
        pool, iterator = None, map(_decode_task, tasks)
    try:
        for stem, source, result, failures in tqdm(iterator, total=len(tasks), desc="decoding images", unit="img"):
            for location, reason, category in failures:
                skips.add(location, reason, category)
            if result is None:
                continue
            done[stem] = source
            for v, (data, width, height) in result.items():
                buffers[v].append({"stem": stem, "jpeg": data, "width": width, "height": height})
            flush()
        flush(force=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        for writer in writers.values():
            writer.close()
        close_archives()
    return done


def close_archives() -> None:
    """Close the zips :func:`read_member_bytes` kept open in this process."""
    for archive, _ in _ZIP_CACHE.values():
        archive.close()
    _ZIP_CACHE.clear()
