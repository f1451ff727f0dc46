"""`edgec test --inputs` takes what --calib takes: an image file or a folder of images (resized to the input, with
--scale/--mean/--std), as well as .npz/.npy; whole-number float labels are class indices; the inputs and labels are
checked before anything is built."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from run_cli import assert_error, edgec

from edgec.data import load_test_data, model_inputs
from edgec.errors import EXIT_INPUT
from edgec.importers import import_model

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits"
INT8 = DIGITS / "digits_cnn_int8.tflite"
SCALE = str(1 / 255)


@pytest.fixture(scope="module")
def digit_images(tmp_path_factory):
    """The first 6 test digits as 8-bit grey BMPs (pixel = round(255 x)), one of them 32x32 (resized back to 8x8)."""
    folder = tmp_path_factory.mktemp("digits")
    x = np.load(DIGITS / "digits_test_float.npz")["image"][:6, 0]  # (6, 8, 8) in [0, 1]
    for k, image in enumerate(x):
        im = Image.fromarray(np.rint(image * 255).astype(np.uint8), mode="L")
        (im.resize((32, 32), Image.Resampling.NEAREST) if k == 5 else im).save(folder / f"digit{k}.bmp")
    return folder, x


def _json(res) -> dict:
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_one_image_file(tmp_path, digit_images):
    folder, _ = digit_images
    r = _json(edgec("test", INT8, "--inputs", folder / "digit0.bmp", "--scale", SCALE, "--out", tmp_path / "out",
                    "--json"))
    assert r["test"]["samples"] == 1 and r["test"]["passed"] and r["test"]["max_abs_diff_lsb"] == 0


def test_an_image_folder_is_read_like_the_float_data(tmp_path, digit_images):
    folder, x = digit_images
    r = _json(edgec("test", INT8, "--inputs", folder, "--scale", SCALE, "--out", tmp_path / "out", "--json"))
    assert r["test"]["samples"] == 6 and r["test"]["passed"]
    # the images quantized through the int8 input's scale and zero point are the float digits quantized
    g = import_model(INT8)
    from_images = model_inputs(load_test_data(folder, g, scale=1 / 255), g)
    np.savez(tmp_path / "floats.npz", image=x[:, None])
    from_floats = model_inputs(load_test_data(tmp_path / "floats.npz", g), g)
    for a, b in zip(from_images[:5], from_floats[:5]):  # the 32x32 one is resized (bilinear): not compared
        assert np.abs(a[0].astype(int) - b[0].astype(int)).max() <= 1


def test_images_for_a_float_model_quantized_by_edgec(tmp_path, digit_images):
    """The float model gets the images' real values, the C their quantization: judged against each other. The
    preprocessing applies to --calib and --inputs alike, so both are images here."""
    folder, _ = digit_images
    r = _json(edgec("test", DIGITS / "digits_cnn.onnx", "--calib", folder, "--inputs", folder,
                    "--scale", SCALE, "--out", tmp_path / "out", "--json"))
    f = r["test"]["float_model"]
    assert r["test"]["passed"] and f["inputs"] == "given" and f["cosine"] > 0.99, f


def test_whole_number_float_labels(tmp_path):
    x = np.load(DIGITS / "digits_test_float.npz")
    np.savez(tmp_path / "t.npz", image=x["image"][:40], labels=x["labels"][:40].astype(np.float64))
    r = _json(edgec("test", INT8, "--inputs", tmp_path / "t.npz", "--out", tmp_path / "out", "--json"))
    acc = r["test"]["accuracy"]
    assert acc["labels"] == 40 and acc["edgec_top1"] > 0.9, acc


@pytest.mark.parametrize("case", ["fractional labels", "wrong shape", "not an image", "empty folder"])
def test_bad_inputs_are_refused_before_the_build(tmp_path, case):
    x = np.load(DIGITS / "digits_test_float.npz")
    if case == "fractional labels":
        labels = x["labels"][:10].astype(np.float64)
        labels[3] = 3.5
        np.savez(tmp_path / "in.npz", image=x["image"][:10], labels=labels)
        path, needles = tmp_path / "in.npz", ["labels", "3.5"]
    elif case == "wrong shape":
        np.savez(tmp_path / "in.npz", image=np.zeros((4, 7, 7), np.float32))
        path, needles = tmp_path / "in.npz", ["do not fit input"]
    elif case == "not an image":
        (tmp_path / "photo.png").write_bytes(b"not a png")
        path, needles = tmp_path / "photo.png", ["not a readable image"]
    else:
        (tmp_path / "images").mkdir()
        path, needles = tmp_path / "images", ["no image files"]
    res = edgec("test", INT8, "--inputs", path, "--out", tmp_path / "out")
    assert_error(res, EXIT_INPUT, str(path), *needles)
    assert "emit C" not in res.stderr and not (tmp_path / "out").exists()  # nothing was built
