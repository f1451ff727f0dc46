"""Test helper: build a one-op int8 .tflite with ModelBuilder, run it through TFLM, edgec's numpy reference
and edgec's generated C, and return all three outputs, so an op test is a few lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgec import driver, host, reference, validate
from edgec.compare import lsb_keys
from edgec.data import random_inputs
from edgec.exporters import write_tflite
from edgec.importers import import_model
from edgec.modelbuilder import ModelBuilder

#: TFLite's Padding and ActivationFunctionType enum values, for ModelBuilder.op options
PAD = {"SAME": 0, "VALID": 1}
ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


def conv_out_hw(h: int, w: int, k: tuple[int, int], stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """TFLite's output height and width of a CONV_2D / DEPTHWISE_CONV_2D"""
    if padding == "SAME":
        return -(-h // stride), -(-w // stride)
    return (h - (k[0] - 1) * dilation - 1) // stride + 1, (w - (k[1] - 1) * dilation - 1) // stride + 1


def conv_op(b: ModelBuilder, inputs: list, y, stride: int, dilation: int, padding: str, act: str,
            depthwise: bool = False, mult: int = 1) -> None:
    """a CONV_2D (or DEPTHWISE_CONV_2D with depth multiplier `mult`) of inputs [x, weights, (bias)] into y"""
    common = dict(padding=PAD[padding], strideH=stride, strideW=stride, dilationHFactor=dilation,
                  dilationWFactor=dilation, fusedActivationFunction=ACT[act])
    if depthwise:
        b.op("DEPTHWISE_CONV_2D", inputs, [y], "DepthwiseConv2DOptions", depthMultiplier=mult, **common)
    else:
        b.op("CONV_2D", inputs, [y], "Conv2DOptions", **common)


def run_three_ways(model_bytes: bytes, tmp: Path, samples: int = 8, seed: int = 0, dtype: str = "int8",
                   inputs: list[list[np.ndarray]] | None = None) -> dict[str, list]:
    """{'tflm': [...], 'numpy': [...], 'c': [...]}: per sample, the list of output arrays. dtype "float32" builds a
    float model as float C (`--dtype float32`); `inputs` replaces the seeded random samples."""
    path = tmp / "model.tflite"
    path.write_bytes(model_bytes)
    assert_exports_back(path, tmp / "exported.tflite")
    b = driver.build(path, tmp / "out", conversion=driver.Conversion(dtype=dtype) if dtype != "int8" else None)
    g = b.graph
    xs = inputs if inputs is not None else random_inputs(g, samples, seed)
    tflm, _ = reference.run_tflm(path, xs)
    state = reference.reset_state(g)  # a stateful model: the samples are one stream, as in TFLM and the C harness
    ours_np = [[reference.run_numpy(g, s, state)[o].copy() for o in g.outputs] for s in xs]
    exe = host.build(b.out, b.sources, sanitize=True)
    ours_c = validate.split_outputs(host.run(exe, xs), g, len(xs))
    return dict(tflm=tflm, numpy=ours_np, c=ours_c)


#: attributes that name places in a file (they differ between the model and its export by design)
_FILE_PLACES = ("label", "tflite_index", "tflite_outputs", "tflite_op")


def assert_exports_back(path: Path, exported: Path) -> None:
    """The model imports, exports (each op's export_tflite) and imports again to the same IR: op types and
    attrs, and every tensor the ops read or write with its shape, dtype, quantization and constant data."""
    g = import_model(path)
    h = import_model(write_tflite(g, exported))
    assert [op.type for op in h.ops] == [op.type for op in g.ops], "the export changed the ops"
    for a, b in zip(g.ops, h.ops):
        strip = lambda attrs: {k: v for k, v in attrs.items() if k not in _FILE_PLACES}  # noqa: E731
        assert repr(strip(b.attrs)) == repr(strip(a.attrs)), f"{a.type}: attrs {b.attrs} after export, {a.attrs}"
        assert (b.inputs, b.outputs) == (a.inputs, a.outputs), f"{a.type}: tensors renamed by the export"
        for name in [*a.inputs, *a.outputs]:
            if name is None:
                continue
            t, u = g.t(name), h.t(name)
            assert (u.shape, u.dtype) == (t.shape, t.dtype), f"{name}: {u.shape} {u.dtype} after export"
            assert (u.quant is None) == (t.quant is None), f"{name}: quantization lost or added by the export"
            if t.quant is not None:
                assert u.quant is not None
                np.testing.assert_array_equal(u.quant.scale, t.quant.scale, err_msg=name)
                np.testing.assert_array_equal(u.quant.zero_point, t.quant.zero_point, err_msg=name)
            if t.data is not None:
                assert u.data is not None, f"{name}: constant data lost by the export"
                np.testing.assert_array_equal(u.data, t.data, err_msg=name)


def assert_bit_exact(results: dict[str, list]) -> None:
    for name in ("numpy", "c"):
        for s, (ours, theirs) in enumerate(zip(results[name], results["tflm"])):
            for a, b in zip(ours, theirs):
                # integers as they are, float32 as ULP-ordered bit patterns: a float diff is 0 only if bit-identical
                a = lsb_keys(np.asarray(a).reshape(-1))
                b = lsb_keys(np.asarray(b).reshape(-1))
                assert a.shape == b.shape, f"{name}: shape {a.shape} vs TFLM {b.shape}"
                d = np.abs(a - b)
                assert d.max(initial=0) == 0, f"{name} sample {s}: max |diff| {d.max()} LSB vs TFLM at {np.argmax(d)}"


#: float32 tolerance (docs/numerics.md, "Float32"): max |diff| <= FLOAT_TOLERANCE * max |reference output|
FLOAT_TOLERANCE = 1e-5


def float_errors(ours: list, theirs: list) -> tuple[float, float]:
    """(max |a - b|, that divided by max |b|) over every sample and output: the error relative to the output's
    range, which stays meaningful where single elements cancel to ~0."""
    a = np.concatenate([np.asarray(x, dtype=np.float64).reshape(-1) for s in ours for x in s])
    b = np.concatenate([np.asarray(x, dtype=np.float64).reshape(-1) for s in theirs for x in s])
    assert a.shape == b.shape, f"shape {a.shape} vs {b.shape}"
    assert np.array_equal(np.isnan(a), np.isnan(b)), "NaN in different places"
    d = np.abs(a - b)[~np.isnan(a)]
    top = np.abs(b[~np.isnan(b)]).max(initial=0.0)
    worst = float(d.max(initial=0.0))
    return worst, worst / top if top > 0 else worst


def assert_float_close(results: dict[str, list], tolerance: float = FLOAT_TOLERANCE) -> dict[str, tuple]:
    """C vs TFLM, numpy vs TFLM and C vs numpy within the float tolerance; returns the measured errors."""
    measured = {"c_vs_tflm": float_errors(results["c"], results["tflm"]),
                "numpy_vs_tflm": float_errors(results["numpy"], results["tflm"]),
                "c_vs_numpy": float_errors(results["c"], results["numpy"])}
    for k, (worst, rel) in measured.items():
        assert rel <= tolerance, f"{k}: max |diff| {worst:.3g} = {rel:.3g} of the output range > {tolerance}"
    return measured


__all__ = ["ModelBuilder", "run_three_ways", "assert_bit_exact", "assert_float_close", "float_errors",
           "FLOAT_TOLERANCE", "PAD", "ACT", "conv_out_hw", "conv_op"]


BINARY_OPTIONS = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}


def binary_model(kind, shape1, shape2, scales, act="NONE", const=None, seed=0, zero_points=None) -> bytes:
    """A one-op model y = x1 <kind> x2; const = 0 or 1 makes that operand a constant (weights)."""
    rng = np.random.default_rng(seed)
    zps = zero_points if zero_points is not None else [int(z) for z in rng.integers(-30, 30, size=3)]
    b = ModelBuilder()
    operands = []
    for k, shape in enumerate((shape1, shape2)):
        if const == k:
            data = rng.integers(-128, 128, size=shape, dtype=np.int8)
            operands.append(b.const(f"c{k}", data, scale=scales[k], zero_point=zps[k]))
        else:
            operands.append(b.input(f"x{k}", shape, scale=scales[k], zero_point=zps[k]))
    out_shape = np.broadcast_shapes(tuple(shape1), tuple(shape2))
    y = b.activation("y", out_shape, scale=scales[2], zero_point=zps[2])
    b.op(kind, operands, [y], BINARY_OPTIONS[kind], fusedActivationFunction=ACT[act])
    b.output(y)
    return b.build()
