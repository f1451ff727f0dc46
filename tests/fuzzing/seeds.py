"""The seed models the fuzzer mutates, and the build options each needs.

- the MLPerf Tiny int8 models, read where tests/conftest.py reads them (never copied into the repository);
- the bundled digits models (examples/digits): the int8 .tflite and the float ONNX model with its calibration data;
- small models built by the tests (tests/small_models.py, tests/onnx_models.py; tests/ must be on sys.path).
A float ONNX seed builds with calibration data (random for the built models, the digits calibration for digits)
or, for some mutants, with --dtype float32: that choice is part of the mutant (`options`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
MLPERF = REPO.parent / "shared" / "models" / "mlperf-tiny"  # as tests/conftest.py MODELS
MLPERF_INT8 = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "vww_96_int8"]
DIGITS = REPO / "examples" / "digits"
CALIBRATION_SAMPLES = 8  # calibration is not what is fuzzed: a few samples keep a float mutant's build fast


@dataclass
class Seed:
    name: str
    fmt: str  # "tflite" or "onnx"
    path: Path
    calib: Path | None = None  # a float model: calibration data for --calib

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    def options(self, mutant_seed: int) -> list[str]:
        """`edgec build` options of a mutant of this seed: a float model is quantized with the seed's calibration
        data (three in four mutants) or kept float (--dtype float32)."""
        if self.calib is None:
            return []
        if random.Random(f"options {mutant_seed}").random() < 0.25:
            return ["--dtype", "float32"]
        return ["--calib", str(self.calib), "--calib-samples", str(CALIBRATION_SAMPLES)]


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    if not path.is_file() or path.read_bytes() != data:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def _random_calibration(folder: Path, name: str, model_bytes: bytes) -> Path:
    """Normal random samples shaped like the ONNX model's first input (NCHW, as the model takes them)."""
    import onnx

    m = onnx.load_from_string(model_bytes)
    shape = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    data = np.random.default_rng(0).standard_normal([CALIBRATION_SAMPLES, *shape[1:]]).astype(np.float32)
    path = folder / f"{name}.calib.npy"
    np.save(path, data)
    return path


SMALL = ["digits_cnn_int8", "digits_cnn", "conv_dw_pool_fc", "fc_only", "small_cnn", "kws_ref_model"]


def build_seeds(folder: Path, names: list[str] | None = None) -> list[Seed]:
    """Write every seed model (and its calibration data) into `folder`; `names` selects some (default: all)."""
    import onnx
    from onnx_models import kws_1d, small_cnn
    from small_models import conv_dw_pool_fc, fc_only, patch_stage_net

    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(names) if names else None
    seeds: list[Seed] = []

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    for name in MLPERF_INT8:
        if want(name):
            path = MLPERF / f"{name}.tflite"
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: the fuzzer reads the MLPerf Tiny models where the "
                                        "tests do (tests/conftest.py)")
            seeds.append(Seed(name, "tflite", path))
    if want("digits_cnn_int8"):
        seeds.append(Seed("digits_cnn_int8", "tflite", DIGITS / "digits_cnn_int8.tflite"))
    if want("digits_cnn"):
        seeds.append(Seed("digits_cnn", "onnx", DIGITS / "digits_cnn.onnx", calib=DIGITS / "digits_calib.npz"))
    for name, build in [("conv_dw_pool_fc", conv_dw_pool_fc), ("fc_only", fc_only),
                        ("patch_stage_net", patch_stage_net)]:
        if want(name):
            seeds.append(Seed(name, "tflite", _write(folder, f"{name}.tflite", build())))
    for name, make in [("small_cnn", small_cnn), ("kws_1d", kws_1d)]:
        if want(name):
            data = make().SerializeToString()
            path = _write(folder, f"{name}.onnx", data)
            seeds.append(Seed(name, "onnx", path, calib=_random_calibration(folder, name, data)))
    if want("small_cnn_qdq"):  # an ONNX model quantized by onnxruntime (QDQ): built as given, no calibration
        from onnx_models import quantize_qdq

        path = folder / "small_cnn_qdq.onnx"
        if not path.is_file():
            quantize_qdq(small_cnn(), folder / "small_cnn_qdq.build.onnx")
            onnx.save(onnx.load(folder / "small_cnn_qdq.build.onnx"), path)
        seeds.append(Seed("small_cnn_qdq", "onnx", path))
    if wanted is not None and wanted - {s.name for s in seeds}:
        raise ValueError(f"unknown seed models: {sorted(wanted - {s.name for s in seeds})}")
    return seeds
