"""scalp_core's shared helpers: the one RGB conversion, the label parser and the prep_config contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from scalp_core.contracts import PrepConfig, PrepConfigError, read_prep_config, write_prep_config
from scalp_core.images import to_gray8, to_rgb
from scalp_core.symptoms import class_names, severity_name, split_label


# ---- one RGB conversion --------------------------------------------------------------------------
def test_sixteen_bit_is_scaled_by_257_with_rounding_not_clipped():
    values = np.array([[0, 128, 129, 257, 32896, 65535]], dtype=np.uint16)
    image = Image.fromarray(values)  # uint16 → mode I;16
    assert image.mode == "I;16"
    assert np.asarray(to_gray8(image)).tolist() == [[0, 0, 1, 1, 128, 255]]
    assert to_rgb(image).mode == "RGB" and to_rgb(image).getpixel((5, 0)) == (255, 255, 255)


def test_wide_integer_and_float_images_are_stretched_to_their_own_range():
    ints = Image.fromarray(np.array([[-1000, 0, 1000]], dtype=np.int32))
    assert np.asarray(to_gray8(ints)).tolist() == [[0, 128, 255]]
    floats = Image.fromarray(np.array([[0.25, 0.5, 0.75]], dtype=np.float32))
    assert np.asarray(to_gray8(floats)).tolist() == [[0, 128, 255]]
    flat = Image.fromarray(np.full((2, 2), 7.0, dtype=np.float32))
    assert np.asarray(to_rgb(flat)).max() == 0  # no range to stretch: black, not a division by zero


def test_alpha_goes_over_white_and_other_modes_use_pillow():
    rgba = Image.new("RGBA", (2, 1), (10, 20, 30, 0))
    rgba.putpixel((1, 0), (10, 20, 30, 255))
    assert [to_rgb(rgba).getpixel((x, 0)) for x in (0, 1)] == [(255, 255, 255), (10, 20, 30)]
    palette = Image.new("P", (1, 1), 0)
    palette.info["transparency"] = 0
    assert to_rgb(palette).getpixel((0, 0)) == (255, 255, 255)
    cmyk = Image.new("CMYK", (1, 1), (0, 0, 0, 0))
    assert to_rgb(cmyk).getpixel((0, 0)) == (255, 255, 255)
    rgb = Image.new("RGB", (1, 1))
    assert to_rgb(rgb) is rgb


# ---- labels ----------------------------------------------------------------------------------------
def test_one_label_parser_for_every_stage():
    assert split_label("경증·중등도 (mild–moderate)") == ("경증·중등도", "mild–moderate")
    assert split_label("양호(normal)") == ("양호", "normal")
    assert split_label("plain") == ("plain", "plain")
    assert [severity_name(i) for i in range(3)] == [split_label(n)[0] for n in class_names(3)]
    assert severity_name(2, scheme=4, lang="en") == "moderate"
    assert severity_name(2, lang="en") == "severe"


# ---- prep_config.json --------------------------------------------------------------------------------
def test_prep_config_round_trip_keeps_the_settings(tmp_path):
    written = PrepConfig(protocol="folder", synthetic=True, labels=4, settings={"seed": 3, "out": "p"})
    path = write_prep_config(tmp_path, written)
    assert json.loads(path.read_text(encoding="utf-8"))["synthetic"] is True
    assert read_prep_config(tmp_path) == written


@pytest.mark.parametrize("content, message", [
    (None, "not a `datasets_prep build` output"),
    ("{not json", "cannot be read"),
    ('{"protocol": "full", "labels": 3}', "lacks ['synthetic']"),
    ('{"protocol": "honest", "synthetic": false, "labels": 3}', "protocol must be one of"),
    ('{"protocol": "full", "synthetic": "yes", "labels": 3}', "synthetic must be true or false"),
])
def test_a_bad_prep_config_is_refused_with_what_to_do(tmp_path, content, message):
    if content is not None:
        (tmp_path / "prep_config.json").write_text(content, encoding="utf-8")
    with pytest.raises(PrepConfigError, match="datasets_prep build|must be") as err:
        read_prep_config(tmp_path)
    assert message in str(err.value)


def test_a_sixteen_bit_upload_becomes_the_same_pixels_in_the_app_and_the_diagnoser():
    """ui.image_input (the app's uploads) and scalp_models (the diagnoser's own decoding) share to_rgb."""
    import io

    from scalp_models.shared_preprocessing import decode_image
    from ui.image_input import load_image

    ramp = (np.arange(64 * 48, dtype=np.uint32) * 21 % 65536).astype(np.uint16).reshape(48, 64)
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    data = buffer.getvalue()
    app_pixels = np.asarray(load_image(data).image)
    diagnoser_pixels = np.asarray(decode_image(data))
    assert app_pixels.shape == (48, 64, 3)
    assert np.array_equal(app_pixels, diagnoser_pixels)
    assert np.array_equal(app_pixels[..., 0], ((ramp.astype(np.uint32) + 128) // 257).astype(np.uint8))
