"""One decoded photo is resized once for the photo check's Lite0 pass and the six models (same size and
filter), and decoding an already upright photo keeps the object those caches are keyed on."""

from __future__ import annotations

import gc
import io

import numpy as np
import pytest
from PIL import Image

from scalp_models.bases import RESAMPLE
from scalp_models.shared_preprocessing import ResizeKey, decode_image, resized_array, resized_tensor


def photo(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))


@pytest.fixture
def resize_calls(monkeypatch) -> list[tuple]:
    calls = []
    original = Image.Image.resize

    def counting(self, size, *args, **kwargs):
        calls.append(tuple(size))
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", counting)
    return calls


def test_decoding_an_upright_photo_keeps_the_object_and_a_rotated_one_is_turned(tmp_path):
    image = photo()
    assert decode_image(image) is image
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    rotated = decode_image(Image.open(io.BytesIO(buffer.getvalue())))
    assert rotated.size == (120, 160)
    assert decode_image(rotated) is rotated  # its orientation tag is gone: upright now


def test_the_lite0_pass_reuses_the_models_resize_of_the_same_photo(resize_calls):
    from scalp_models.lite0_features import LITE0_SIZE, lite0_pixels

    image = photo(1)
    models = resized_tensor([image], ResizeKey(LITE0_SIZE, int(RESAMPLE), gray=False))
    lite0 = lite0_pixels([image])
    assert resize_calls == [(LITE0_SIZE, LITE0_SIZE)]  # one resize for both
    fresh = np.asarray(image.resize((LITE0_SIZE, LITE0_SIZE), RESAMPLE), np.float32)
    np.testing.assert_array_equal(models[0].numpy().transpose(1, 2, 0), fresh)
    np.testing.assert_allclose(lite0[0].transpose(1, 2, 0), (fresh - 127.0) / 128.0, atol=1e-6)


def test_resizes_are_kept_per_object_not_per_content_and_are_read_only(resize_calls):
    image, twin = photo(2), photo(2)
    first = resized_array(image, 64, int(RESAMPLE))
    assert resized_array(image, 64, int(RESAMPLE)) is first
    assert not first.flags.writeable
    with pytest.raises(ValueError):
        first[0, 0, 0] = 1
    again = resized_array(twin, 64, int(RESAMPLE))  # equal pixels, another photo: resized on its own
    assert again is not first and np.array_equal(again, first)
    other_size = resized_array(image, 32, int(RESAMPLE))
    assert other_size.shape == (32, 32, 3)
    assert len(resize_calls) == 3
    del image
    gc.collect()
    newcomer = photo(3)  # a collected photo's entry is gone; a new object at its address is not confused
    assert resized_array(newcomer, 64, int(RESAMPLE)).shape == (64, 64, 3) and len(resize_calls) == 4


def test_the_memo_keeps_the_newest_few_objects_by_identity_and_key():
    from scalp_core.recent import RecentByIdentity

    memo = RecentByIdentity(2)
    a, b, c = photo(4), photo(4), photo(5)
    memo.put(a, "a-64", key=64)
    assert memo.get(a, 64) == "a-64" and memo.get(a, 32) is None and memo.get(b, 64) is None  # b equals a
    memo.put(b, "b")
    memo.put(c, "c")  # the third object pushes out the oldest
    assert memo.get(a, 64) is None and memo.get(b) == "b" and memo.get(c) == "c"
