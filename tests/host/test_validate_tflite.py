"""Every field of a .tflite file is validated before use: a small valid model, mutated one field at a time, goes
through the real CLI and gets one clear message (exit 2) naming the operator, tensor, field, value and domain.
What TFLite Micro accepts from real converters (a 1-D bias quantized along its weights' axis) builds and tests at
0 LSB; the reference runtimes run in a child process, so a crash there is a message, never a dead edgec."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from run_cli import assert_error, edgec
from small_models import conv_dw_pool_fc, patch_stage_net
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

from edgec import driver, host, reference, validate
from edgec.data import random_inputs
from edgec.errors import EXIT_INPUT, ToolchainError
from edgec.fixedpoint import MAX_LEFT_SHIFT, MAX_RIGHT_SHIFT, RescaleRangeError, quantize_multiplier
from edgec.modelbuilder import ModelBuilder

# ---- mutating a valid model through the flatbuffer object API ------------------------------------------------

def load(data: bytes):
    """The model as writable numpy fields (the object API hands out read-only views of the buffer)."""
    m = tfl.ModelT.InitFromPackedBuf(data, 0)
    for t in m.subgraphs[0].tensors:
        t.shape = np.array(t.shape)
        q = t.quantization
        if q is not None and q.scale is not None:
            q.scale, q.zeroPoint = np.array(q.scale), np.array(q.zeroPoint)
    for op in m.subgraphs[0].operators:
        op.inputs, op.outputs = np.array(op.inputs), np.array(op.outputs)
    return m


def pack(m) -> bytes:
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def tensor(m, name: str):
    return next(t for t in m.subgraphs[0].tensors if t.name.decode() == name)


def mutant(tmp_path: Path, edit: Callable, name: str = "mutant") -> Path:
    m = load(conv_dw_pool_fc())
    edit(m)
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(pack(m))
    return path


def _index(m, name: str) -> int:
    return [t.name.decode() for t in m.subgraphs[0].tensors].index(name)


def set_bias(m, name: str, value: int) -> None:
    t = tensor(m, name)
    n = int(np.prod(t.shape))
    m.buffers[t.buffer].data = np.frombuffer(np.full(n, value, np.int32).tobytes(), np.uint8)


def _scale(name, value):
    return lambda m: tensor(m, name).quantization.scale.__setitem__(0, value)


def _zero_point(name, value):
    return lambda m: tensor(m, name).quantization.zeroPoint.__setitem__(0, value)


def _input(op, pos, value):
    return lambda m: m.subgraphs[0].operators[op].inputs.__setitem__(pos, value)


def _option(op, field, value):
    return lambda m: setattr(m.subgraphs[0].operators[op].builtinOptions, field, value)


def _rank3(m):
    tensor(m, "conv1").shape = np.asarray([6, 6, 8], np.int32)


def _variable(m):
    tensor(m, "conv_w").isVariable = True


def _weight_zero_point(m):
    tensor(m, "conv_w").quantization.zeroPoint[:] = 3


# (id, mutation, words the message must hold: the operator or tensor, the field, the value, the domain)
INVALID = [
    ("scale-nan", _scale("conv1", np.nan), ["conv1", "scale", "nan", "finite"]),
    ("scale-inf", _scale("conv1", np.inf), ["conv1", "scale", "inf", "finite"]),
    ("scale-negative", _scale("input", -0.02), ["input", "scale", "-0.02", "> 0"]),
    ("scale-zero-activation", _scale("logits", 0.0), ["logits", "scale", "0.0", "> 0"]),
    ("output-scale-1e-30", _scale("conv1", 1e-30), ["#0 CONV_2D", "left shift of", "at most 31"]),
    ("input-scale-1e38", _scale("input", 1e38), ["#0 CONV_2D", "left shift of", "at most 31"]),
    ("zero-point-128", _zero_point("input", 128), ["input", "zero point 128", "int8 (-128..127)"]),
    ("zero-point-1000", _zero_point("conv1", 1000), ["conv1", "zero point 1000", "int8 (-128..127)"]),
    ("zero-point-2^31", _zero_point("input", 2**31), ["input", "zero point 2147483648", "-128..127"]),
    ("per-channel-zero-point", _weight_zero_point, ["conv_w", "per-channel", "zero point 3", "every zero point 0"]),
    ("required-input-absent", _input(0, 1, -1), ["#0 CONV_2D", "input 1 is -1", "only input 2 may be absent"]),
    ("rank-mismatch", _rank3, ["#1 DEPTHWISE_CONV_2D", "conv1", "rank 3", "[6, 6, 8]", "rank 4"]),
    ("depth-multiplier", _option(1, "depthMultiplier", 32767),
     ["#1 DEPTHWISE_CONV_2D", "depth_multiplier is 32767", "the shapes give 1"]),
    ("variable-constant", _variable, ["conv_w", "is_variable", "zero point"]),
    ("bias-overflow", lambda m: set_bias(m, "conv_w_bias", 2**31 - 1),
     ["#0 CONV_2D", "output channel", "int32 accumulator", "2147483647"]),
    ("bias-overflow-negative", lambda m: set_bias(m, "fc_w_bias", -(2**31)),
     ["#5 FULLY_CONNECTED", "output channel", "int32 accumulator", "2147483648"]),
    ("padding", _option(0, "padding", 7), ["#0 CONV_2D", "padding 7", "SAME, VALID"]),
    ("fused-activation", _option(0, "fusedActivationFunction", 9), ["#0 CONV_2D", "fused activation 9"]),
    ("stride", _option(0, "strideH", 0), ["#0 CONV_2D", "strideH is 0", "1..65535"]),
    ("stride-huge", _option(3, "strideH", 2**31 - 1), ["#3 AVERAGE_POOL_2D", "strideH is 2147483647", "1..65535"]),
    ("pool-filter-huge", _option(2, "filterWidth", 70000), ["#2 MAX_POOL_2D", "filterWidth is 70000", "1..65535"]),
    ("dilation-huge", _option(0, "dilationHFactor", 2**30),
     ["#0 CONV_2D", "dilationHFactor 1073741824", "spans 2147483649", "at most 65535"]),
    ("dilation", _option(1, "dilationWFactor", -2), ["#1 DEPTHWISE_CONV_2D", "dilationWFactor is -2"]),
    ("opcode-index", lambda m: setattr(m.subgraphs[0].operators[0], "opcodeIndex", 99),
     ["operator #0", "operator code 99"]),
    ("buffer-index", lambda m: setattr(tensor(m, "conv_w"), "buffer", 1000), ["conv_w", "buffer 1000"]),
    ("buffer-size", lambda m: setattr(m.buffers[tensor(m, "conv_w").buffer], "data", np.zeros(7, np.uint8)),
     ["conv_w", "holds 7 values", "needs 216"]),
    ("bias-length", lambda m: m.subgraphs[0].operators[1].inputs.__setitem__(2, _index(m, "fc_w_bias")),
     ["#1 DEPTHWISE_CONV_2D", "fc_w_bias", "shape [5]", "8 output channels", "[8]"]),
    # found by the mutation fuzzer (bench/fuzz.py): each once an internal error or a UBSan finding
    ("tensor-bytes", lambda m: setattr(tensor(m, "input"), "shape", np.asarray([1, 32, 32, 16777219], np.int32)),
     ["tensor input", "[1, 32, 32, 16777219]", "17179872256 bytes", "2147483647 bytes"]),
    ("input-constant", lambda m: setattr(tensor(m, "input"), "buffer", tensor(m, "conv_w").buffer),
     ["subgraph input 0 (input)", "is a constant", "never a constant"]),
    ("conv-groups", lambda m: setattr(tensor(m, "input"), "shape", np.asarray([1, 12, 12, 3000], np.int32)),
     ["#0 CONV_2D", "input channels are a multiple of the weights' input channels",
      "output channels of the group count"]),
    ("no-subgraph", lambda m: setattr(m, "subgraphs", []), ["no subgraph"]),
    ("two-subgraphs", lambda m: m.subgraphs.append(m.subgraphs[0]), ["2 subgraphs", "single-subgraph"]),
]


@pytest.mark.parametrize("edit,needles", [pytest.param(e, n, id=i) for i, e, n in INVALID])
def test_invalid_field_is_one_clear_message(tmp_path, edit, needles):
    path = mutant(tmp_path, edit)
    msg = assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT, *needles)
    assert "np." not in msg, msg  # no numpy repr in a message
    assert not (tmp_path / "out").exists()


def test_tflm_ignores_a_variable_tensors_buffer(tmp_path):
    """Why a constant marked variable is refused: TFLM starts it at its zero point, whatever its buffer holds (the
    model computes as if its weights were 0), so no build of the buffer's values could match TFLM."""
    xs = [[np.random.default_rng(i).integers(-128, 128, (1, 12, 12, 3)).astype(np.int8)] for i in range(3)]

    def zero_weights(m):
        buf = m.buffers[tensor(m, "conv_w").buffer]
        buf.data = np.zeros(len(buf.data), np.uint8)

    variable = reference.run_tflm(mutant(tmp_path, _variable, "variable"), xs)[0]
    zeroed = reference.run_tflm(mutant(tmp_path, zero_weights, "zeroed"), xs)[0]
    original = reference.run_tflm(mutant(tmp_path, lambda m: None, "original"), xs)[0]
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(variable, zeroed))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(variable, original))


def test_depth_multiplier_test_command_does_not_crash(tmp_path):
    """The depth multiplier that made TFLM dereference out of bounds: `edgec test` refuses it before TFLM runs."""
    path = mutant(tmp_path, _option(1, "depthMultiplier", 32767))
    assert_error(edgec("test", path, "--out", tmp_path / "out", "--samples", "2"), EXIT_INPUT, "depth_multiplier")


def test_reference_crash_is_a_toolchain_error(tmp_path):
    """TFLM itself, given the same model, dies of SIGSEGV in its child process; edgec lives and says so."""
    path = mutant(tmp_path, _option(1, "depthMultiplier", 32767))
    with pytest.raises(ToolchainError, match="crashed .*SIG"):
        reference.run_tflm(path, [[np.zeros((1, 12, 12, 3), np.int8)]])


def test_reference_refusal_is_a_toolchain_error(tmp_path):
    path = tmp_path / "not_a_model.tflite"
    path.write_bytes(b"TFL3" * 16)
    with pytest.raises(ToolchainError, match="TFLite Micro"):
        reference.run_tflm(path, [[np.zeros((1, 4), np.int8)]])


def test_zero_depth_multiplier_is_refused(tmp_path):
    """TFLM loops over the option, not the shapes: with 0 it computes nothing (80 LSB away from the shapes' 1)."""
    path = mutant(tmp_path, _option(1, "depthMultiplier", 0))
    assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT, "depth_multiplier is 0",
                 "the shapes give 1")


@pytest.mark.parametrize("axis", [3, 1])
def test_bias_quantized_along_a_dimension_it_lacks_is_accepted(tmp_path, axis):
    """The converter quirk TFLite Micro runs: a 1-D bias with quantized_dimension 3 (or 1). Builds, 0 LSB."""
    def edit(m):
        for name in ("conv_w_bias", "dw_w_bias", "fc_w_bias"):
            tensor(m, name).quantization.quantizedDimension = axis

    path = mutant(tmp_path, edit)
    res = edgec("test", path, "--out", tmp_path / "out", "--samples", "3", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["test"]["rows"][0]["max_abs_diff_lsb"] == 0


def test_absent_bias_is_legal(tmp_path):
    """-1 is how TFLite writes an optional input such as a missing bias: it builds and tests at 0 LSB."""
    path = mutant(tmp_path, _input(0, 2, -1))
    res = edgec("test", path, "--out", tmp_path / "out", "--samples", "3", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["test"]["rows"][0]["max_abs_diff_lsb"] == 0


def test_a_still_malformed_bias_quantization_shows_plain_numbers(tmp_path):
    """Per-channel scales that match no dimension stay malformed, and the shape reads [8], not [np.int32(8)]."""
    def edit(m):
        q = tensor(m, "conv_w_bias").quantization
        q.scale, q.zeroPoint, q.quantizedDimension = np.full(5, 1e-4, np.float32), np.zeros(5, np.int64), 3

    msg = assert_error(edgec("build", mutant(tmp_path, edit), "--out", tmp_path / "out"), EXIT_INPUT,
                       "conv_w_bias", "[8]", "5 per-channel scales")
    assert "np." not in msg


def test_non_finite_float_bias(tmp_path):
    """A float32 model with a +inf bias: refused by verifier.verify (both importers), exit 2."""
    b = ModelBuilder()
    x = b.input("x", (1, 8), dtype=np.float32)
    w = b.const("w", np.ones((4, 8), np.float32))
    bias = b.const("bias", np.array([0, np.inf, 0, 0], np.float32))
    y = b.activation("y", (1, 4), dtype=np.float32)
    b.op("FULLY_CONNECTED", [x, w, bias], [y], "FullyConnectedOptions", fusedActivationFunction=0)
    b.output(y)
    path = tmp_path / "inf_bias.tflite"
    path.write_bytes(b.build())
    assert_error(edgec("build", path, "--dtype", "float32", "--out", tmp_path / "out"), EXIT_INPUT,
                 "bias", "not finite", "inf")


# ---- fixed-point representability -----------------------------------------------------------------------------

@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=1e-45, max_value=1e38, allow_nan=False, allow_infinity=False))
def test_quantize_multiplier_shifts_are_ones_the_c_can_do(real):
    """Every (M, shift) returned is within the C's shifts; what is not representable raises, nothing else."""
    try:
        m, shift = quantize_multiplier(real)
    except RescaleRangeError:
        assert real >= 2.0**MAX_LEFT_SHIFT * (1 - 2.0**-31)
        return
    assert -MAX_RIGHT_SHIFT <= shift <= MAX_LEFT_SHIFT
    assert (m, shift) == (0, 0) or (1 << 30) <= m < (1 << 31)
    if m:
        assert abs(m * 2.0 ** (shift - 31) - real) <= real * 2.0**-30
    else:
        assert real < 2.0**-31


@pytest.mark.parametrize("real", [float("nan"), float("inf"), -float("inf"), 2.0**31, 1e38])
def test_quantize_multiplier_refuses(real):
    with pytest.raises(RescaleRangeError):
        quantize_multiplier(real)


def test_scale_ratio_overflowing_to_infinity(tmp_path):
    """HARD_SWISH with input scale 1e38 and output scale 1e-38: the ratio overflows float; one message naming the
    operator, no numpy warning on the way."""
    b = ModelBuilder()
    x = b.input("x", (1, 8), scale=1e38, zero_point=0)
    y = b.activation("y", (1, 8), scale=1e-38, zero_point=0)
    b.op("HARD_SWISH", [x], [y])
    b.output(y)
    path = tmp_path / "hard_swish.tflite"
    path.write_bytes(b.build())
    msg = assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT, "#0 HARD_SWISH",
                       "the input scale is between")
    assert "Warning" not in msg, msg


def _fc_with_output_scale(out_scale: float, with_bias: bool = True) -> bytes:
    rng = np.random.default_rng(5)
    b = ModelBuilder()
    x = b.input("x", (1, 16), scale=0.05, zero_point=-3)
    w = b.const("w", rng.integers(-127, 128, size=(4, 16), dtype=np.int8), scale=0.01, zero_point=0)
    bias = b.const("bias", rng.integers(-100, 100, size=4).astype(np.int32), scale=0.0005, zero_point=0)
    y = b.activation("y", (1, 4), scale=out_scale, zero_point=2)
    b.op("FULLY_CONNECTED", [x, w, bias if with_bias else -1], [y], "FullyConnectedOptions",
         fusedActivationFunction=0)
    b.output(y)
    return b.build()


def test_fully_connected_bias_scale_checked_as_tflm_does(tmp_path):
    """TFLM's Prepare refuses a FULLY_CONNECTED whose bias scale is off input x weights scale by more than 2 % of
    the output scale (here 2.9 %: the float32 rounding of 0.0005 against a tiny output scale); edgec says so."""
    path = tmp_path / "fc.tflite"
    path.write_bytes(_fc_with_output_scale(5e-4 / 2**19))
    assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT, "#0 FULLY_CONNECTED", "bias",
                 "0.0288", "0.02")
    with pytest.raises(ToolchainError, match="refused"):
        reference.run_tflm(path, [[np.zeros((1, 16), np.int8)]])
    path.write_bytes(_fc_with_output_scale(5e-4 / 2**18))  # 1.4 %: both accept it
    assert edgec("build", path, "--out", tmp_path / "out").returncode == 0


# effective multipliers 5e-4 / s_y = 2^e: just below 2^31 (left shift 31), 2^29.9 (left shift 30), 2^-31.5 (right
# shift 31), 2^-40 (flushed to a zero multiplier, as TFLM's QuantizeMultiplier does); no bias, whose scale TFLM
# would check
@pytest.mark.parametrize("exponent", [30.9, 29.9, 18.0, -31.5, -40.0])
def test_extreme_legal_scales_run_ubsan_clean(tmp_path, exponent):
    """The C for the extreme shifts runs under ASan/UBSan and equals the numpy reference and TFLM."""
    path = tmp_path / "fc.tflite"
    path.write_bytes(_fc_with_output_scale(5e-4 / 2**exponent, with_bias=False))
    b = driver.build(path, tmp_path / "out")
    exe = host.build(b.out, b.sources, exe="model_sanitized", sanitize=True)
    xs = random_inputs(b.graph, 8, seed=3)
    ours = validate.split_outputs(host.run(exe, xs), b.graph, len(xs))
    for sample, got in zip(xs, ours):
        want = reference.run_numpy(b.graph, sample)[b.graph.outputs[0]]
        assert np.array_equal(got[0].reshape(-1), want.reshape(-1))
    tflm, _ = reference.run_tflm(path, xs)
    assert all(np.array_equal(a[0].reshape(-1), t[0].reshape(-1)) for a, t in zip(ours, tflm))


def test_mean_axes_of_rank_2_are_refused(tmp_path):
    """The fuzzer reshaped MEAN's axes tensor to [2, 1]: the importer read it as a list of numbers (internal
    error). The axes are a scalar or a 1-D tensor."""
    m = load(patch_stage_net())
    op = next(op for op in m.subgraphs[0].operators
              if m.operatorCodes[op.opcodeIndex].builtinCode == tfl.BuiltinOperator.MEAN)
    m.subgraphs[0].tensors[int(op.inputs[1])].shape = np.asarray([2, 1], np.int32)
    path = tmp_path / "mean_axes.tflite"
    path.write_bytes(pack(m))
    msg = assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT, "MEAN", "axes", "[2, 1]",
                       "1-D")
    assert "np." not in msg, msg
