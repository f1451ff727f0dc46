"""How far edgec's int8 C is from the float model, for legitimate and for garbage quantizations: the measurements
behind `edgec test`'s float-model bounds (validate.MIN_FLOAT_COSINE, MIN_FLOAT_TOP1, MIN_FLOAT_COSINE_RANDOM;
docs/quantization.md, "Judged against the float model").

Each case runs `validate.test` (what `edgec test` runs) on the host, on real inputs (--inputs) and on the default 50
random vectors, and records the cosine and top-1 agreement of the int8 C against the float model, and whether the
C equals TFLM (0 LSB). Cases: the bundled digits CNN with the four calibration methods and with one calibration
sample; the ONNX test CNN and ten random-weight CNNs (tests/onnx_models.small_cnn); garbage: the digits CNN with
asymmetric MaxPool pads (whose -FLT_MAX padding once entered calibration), and calibrated on its data x 1e-3,
x 1e6, all zeros, or a constant image.

    .venv/bin/python bench/float_judgement.py [--out bench/results/float_judgement.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from onnx_models import small_cnn  # noqa: E402

from edgec import driver, validate  # noqa: E402

DIGITS = ROOT / "examples" / "digits"


def measure(work: Path, name: str, model: Path, calib: Path, inputs: Path | None, method: str = "minmax") -> str:
    r = validate.test(model, work / name, inputs=inputs, conversion=driver.Conversion(calib=calib, calib_method=method))
    t = r.build.report["test"]
    f = t["float_model"]
    top1 = "-" if f["top1_agreement"] is None else f"{100 * f['top1_agreement']:.1f} %"
    return (f"| {name} | {'real' if inputs else 'random'} | {t['samples']} | {t['max_abs_diff_lsb']} | "
            f"{f['cosine']:.4f} | {top1} | {'pass' if r.passed else 'FAIL'} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "float_judgement.md")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        digits, test = DIGITS / "digits_cnn.onnx", DIGITS / "digits_test_float.npz"
        calib = np.load(DIGITS / "digits_calib.npz")
        key = next(k for k in calib.files if k != "labels")
        garbage = {"x 1e-3": calib[key] * 1e-3, "x 1e6": calib[key] * 1e6, "zeros": np.zeros_like(calib[key]),
                   "constant image": np.full_like(calib[key], calib[key].mean()), "one sample": calib[key][:1]}
        for label, data in garbage.items():
            np.savez(work / f"{label}.npz", **{key: data})
        rng = np.random.default_rng(0)
        np.savez(work / "cnn_calib.npz", x=rng.standard_normal((64, 1, 3, 16, 16)).astype(np.float32))
        np.savez(work / "cnn_test.npz", x=rng.standard_normal((20, 1, 3, 16, 16)).astype(np.float32))
        asym = onnx.load(digits)
        pool = next(n for n in asym.graph.node if n.op_type == "MaxPool")
        next(a for a in pool.attribute if a.name == "pads").ints[:] = [1, 1, 0, 0]
        onnx.save(asym, work / "asym.onnx")
        for inputs in (test, None):
            for method in ("minmax", "percentile", "mse", "kl"):
                rows.append(measure(work, f"digits {method}", digits, DIGITS / "digits_calib.npz", inputs, method))
            rows.append(measure(work, "digits, one calibration sample", digits, work / "one sample.npz", inputs))
        for inputs in (work / "cnn_test.npz", None):
            onnx.save(small_cnn(seed=3, batchnorm=True, size=16), work / "cnn.onnx")
            rows.append(measure(work, "ONNX test CNN (BatchNorm)", work / "cnn.onnx", work / "cnn_calib.npz", inputs))
            for seed in range(5):
                for softmax in (True, False):
                    path = work / f"cnn{seed}{softmax}.onnx"
                    onnx.save(small_cnn(seed=seed, softmax=softmax, size=16), path)
                    rows.append(measure(work, f"random-weight CNN seed {seed}{' + softmax' if softmax else ''}",
                                        path, work / "cnn_calib.npz", inputs))
        for inputs in (test, None):
            rows.append(measure(work, "GARBAGE MaxPool asymmetric pads", work / "asym.onnx",
                                DIGITS / "digits_calib.npz", inputs))
            for label in ("x 1e-3", "x 1e6", "zeros", "constant image"):
                rows.append(measure(work, f"GARBAGE digits calibrated on {label}", digits, work / f"{label}.npz",
                                    inputs))
    text = "\n".join([
        "# int8 C against the float model (bench/float_judgement.py)", "",
        f"Bounds: real inputs cosine >= {validate.MIN_FLOAT_COSINE}, top-1 >= {100 * validate.MIN_FLOAT_TOP1:.0f} %; "
        f"random vectors cosine >= {validate.MIN_FLOAT_COSINE_RANDOM}. 'real' = the 360 test digits or 20 samples "
        "of the CNNs' test data; 'random' = 50 random vectors over the int8 input grid. Random vectors are drawn "
        "from the calibrated input range, so a calibration in the wrong units passes on them: it is found with "
        "real --inputs (docs/quantization.md). The MaxPool row shows the quantizer as it was when the padding "
        "sentinel entered calibration; a quantizer that ignores it passes that row.", "",
        "| case | inputs | samples | vs TFLM (LSB) | cosine | top-1 agreement | edgec test |",
        "|---|---|---:|---:|---:|---:|---|", *rows, ""])
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
