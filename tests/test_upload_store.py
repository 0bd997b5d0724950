"""UploadStore in-process: a claim deletes the photo at once; its per-content folder goes with the sweep,
so an identical upload arriving during the claim can still be renamed into it."""

from __future__ import annotations

import os

import pytest

from ui import uploads
from ui.image_input import ImageInputError
from ui.uploads import UploadStore


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _upload(root, content: bytes, name: str = "photo.jpg") -> str:
    """What Gradio's upload route does: a temp file renamed into ``<root>/<hash>/<name>``."""
    folder = root / f"sha-{content.hex()[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    temp = root / f"tmp-{os.urandom(4).hex()}"
    temp.write_bytes(content)
    os.rename(temp, folder / name)  # fails if the folder was removed between mkdir and here
    return str(folder / name)


def test_a_claim_deletes_the_photo_but_leaves_the_folder_to_the_sweep(tmp_path):
    clock = Clock()
    path = _upload(tmp_path, b"same photo bytes")
    store = UploadStore({path}, clock=clock)
    assert store.claim({"path": path}) == b"same photo bytes"
    folder = tmp_path / os.path.basename(os.path.dirname(path))
    assert not os.path.exists(path) and folder.is_dir() and not any(folder.iterdir())
    # An identical upload racing the claim (mkdir done, rename still to come) still lands in the folder.
    again = _upload(tmp_path, b"same photo bytes")
    assert again == path and os.path.exists(again)
    assert store.claim(again) == b"same photo bytes" and not os.path.exists(again)
    store.sweep()  # the bytes are still held for identical requests: nothing is forgotten yet
    assert folder.is_dir() and path in store.paths
    clock.now += uploads.SHARED_TTL_S + 1
    store.sweep()
    assert not folder.exists() and path not in store.paths
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no photo, temp file or folder left"
    store.paths.add(path)  # a stale reference to that upload, as a late request would send
    with pytest.raises(ImageInputError, match="upload it again"):
        store.claim(path)
