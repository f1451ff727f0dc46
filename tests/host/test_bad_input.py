"""Bad input through the real CLI: every case gets one clear message and the documented exit code
(docs/cli.md: 1 validation, 2 usage/input, 3 budget, 4 toolchain), never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from oneop import ModelBuilder
from run_cli import assert_error, edgec

from edgec import cli, host, validate
from edgec.errors import EXIT_INPUT, EXIT_TOOLCHAIN, EXIT_VALIDATION

ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3, "TANH": 4}


# ---- small int8 models -------------------------------------------------------------------------------------

def fc_builder(in_shape=(1, 8), out=4, seed=0) -> tuple[ModelBuilder, int, int]:
    """x -> FULLY_CONNECTED -> y, int8. Returns the builder, the input and the output tensor indices."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    depth = in_shape[-1]
    x = b.input("x", in_shape, scale=0.05, zero_point=-3)
    w = b.const("w", rng.integers(-127, 128, size=(out, depth), dtype=np.int8), scale=0.01, zero_point=0)
    bias = b.const("bias", rng.integers(-100, 100, size=out).astype(np.int32), scale=0.0005, zero_point=0)
    y = b.activation("y", (int(np.prod(in_shape)) // depth, out), scale=0.1, zero_point=2)
    b.op("FULLY_CONNECTED", [x, w, bias], [y], "FullyConnectedOptions", fusedActivationFunction=0)
    b.output(y)
    return b, x, y


@pytest.fixture
def fc_model(tmp_path) -> Path:
    path = tmp_path / "fc.tflite"
    path.write_bytes(fc_builder()[0].build())
    return path


# ---- not a model ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cut", ["100 bytes", "half"])
def test_truncated_tflite(tmp_path, shared_models, cut):
    data = (shared_models / "ad01_int8.tflite").read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[:100] if cut == "100 bytes" else data[: len(data) // 2])
    assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT, "cut.tflite", "malformed")
    assert not (tmp_path / "out").exists()


def build_in_process(path: Path, out: Path):
    """`edgec build` through click's CliRunner (in process: fast enough for many cases in a loop)."""
    return CliRunner().invoke(cli.main, ["build", str(path), "--out", str(out)])


def test_truncated_small_model_everywhere(tmp_path, fc_model):
    """Cutting a small model at many places never escapes as a traceback; it is a malformed-file error."""
    data = fc_model.read_bytes()
    path = tmp_path / "cut.tflite"
    for n in sorted({8, 12, 16, 24, 32, 64, len(data) // 3, len(data) // 2, len(data) - 16, len(data) - 1}):
        path.write_bytes(data[:n])
        res = build_in_process(path, tmp_path / "out")
        assert res.exit_code == EXIT_INPUT, f"cut at {n}: {res.output}"
        assert "cut.tflite" in res.output and "internal error" not in res.output, res.output


@pytest.mark.parametrize("content,needle", [
    (b"hello, this is not a model\n", "neither a TFLite flatbuffer"),
    (b"", "neither a TFLite flatbuffer"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00",
     "neither a TFLite flatbuffer"),
])
def test_not_a_tflite_file(tmp_path, content, needle):
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT, "model.tflite", needle)


def test_missing_model_file(tmp_path):
    assert_error(edgec("build", tmp_path / "nope.tflite", "--out", tmp_path / "out"), EXIT_INPUT,
                 "nope.tflite", "no such")


def test_model_is_a_folder(tmp_path):
    assert_error(edgec("build", tmp_path, "--out", tmp_path / "out"), EXIT_INPUT, "no such model file")


# ---- float, dynamic, unsupported ----------------------------------------------------------------------------

def test_float_model_needs_calibration_data(tmp_path, shared_models):
    msg = assert_error(edgec("build", shared_models / "vww_96_float.tflite", "--out", tmp_path / "out"), EXIT_INPUT,
                       "float model", "--calib", "--dtype float32")
    # one clear message, not one line per op
    assert len(msg.strip().splitlines()) <= 6, msg
    assert not (tmp_path / "out").exists()


def test_hybrid_model_is_refused(tmp_path, shared_models):
    """kws_ref_model_float32: int8 weights under float activations (dynamic-range quantization)."""
    msg = assert_error(edgec("build", shared_models / "kws_ref_model_float32.tflite", "--out", tmp_path / "out"),
                       EXIT_INPUT, "hybrid")
    assert len(msg.strip().splitlines()) <= 6, msg


def test_dtype_float32_on_an_int8_model(tmp_path, shared_models):
    assert_error(edgec("build", shared_models / "ad01_int8.tflite", "--dtype", "float32", "--out", tmp_path / "out"),
                 EXIT_INPUT, "already quantized", "--dtype float32")


def test_dynamic_shape(tmp_path):
    b, x, _ = fc_builder(in_shape=(1, 8))
    b.sg.tensors[x].shapeSignature = np.asarray([1, -1], dtype=np.int32)
    path = tmp_path / "dyn.tflite"
    path.write_bytes(b.build())
    assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT, "dynamic shape", "x", "static")


def test_dynamic_batch_only_is_fine(tmp_path):
    """A -1 batch in the signature (the converter's default) runs as batch 1."""
    b, x, _ = fc_builder(in_shape=(1, 8))
    b.sg.tensors[x].shapeSignature = np.asarray([-1, 8], dtype=np.int32)
    path = tmp_path / "dynbatch.tflite"
    path.write_bytes(b.build())
    res = edgec("build", path, "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr


def _unsupported_model(tmp_path: Path, kinds: list[str]) -> Path:
    rng = np.random.default_rng(1)
    b, _, y = fc_builder(in_shape=(1, 8))
    if "GATHER" in kinds:
        idx = b.const("gidx", np.asarray([0, 2], dtype=np.int32))
        g = b.activation("gathered", (1, 2), scale=0.1, zero_point=2)
        b.op("GATHER", [y, idx], [g], "GatherOptions", axis=1)
        b.output(g)
    if "CUSTOM" in kinds:
        c = b.activation("custom_out", (1, 4), scale=0.1, zero_point=2)
        b.op("CUSTOM", [y], [c])
        b.model.operatorCodes[-1].customCode = "MyFancyOp"
        b.output(c)
    if "SPACE_TO_DEPTH" in kinds:
        xi = b.input("img", (1, 4, 4, 2), scale=0.05, zero_point=0)
        t = b.activation("folded", (1, 2, 2, 8), scale=0.05, zero_point=0)
        b.op("SPACE_TO_DEPTH", [xi], [t], "SpaceToDepthOptions", blockSize=2)
        b.output(t)
    if "TANH" in kinds:
        xi = b.input("img2", (1, 6, 6, 2), scale=0.05, zero_point=0)
        w = b.const("cw", rng.integers(-127, 128, size=(4, 3, 3, 2), dtype=np.int8), scale=[0.01] * 4,
                    zero_point=[0] * 4)
        cb = b.const("cb", np.zeros(4, np.int32), scale=[0.0005] * 4, zero_point=[0] * 4)
        c = b.activation("conv_tanh", (1, 6, 6, 4), scale=0.1, zero_point=0)
        b.op("CONV_2D", [xi, w, cb], [c], "Conv2DOptions", padding=0, strideH=1, strideW=1, dilationHFactor=1,
             dilationWFactor=1, fusedActivationFunction=ACT["TANH"])
        b.output(c)
    path = tmp_path / "unsupported.tflite"
    path.write_bytes(b.build())
    return path


@pytest.mark.parametrize("kind,needles", [
    ("GATHER", ["GATHER", "gathered"]),
    ("CUSTOM", ["CUSTOM:MyFancyOp", "custom_out"]),
    ("SPACE_TO_DEPTH", ["SPACE_TO_DEPTH", "folded"]),
])
def test_unsupported_operator(tmp_path, kind, needles):
    path = _unsupported_model(tmp_path, [kind])
    assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT, "not supported", "edgec ops", *needles)


def test_all_problems_in_one_message(tmp_path):
    path = _unsupported_model(tmp_path, ["GATHER", "SPACE_TO_DEPTH", "TANH"])
    msg = assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT,
                       "#1 GATHER (gathered)", "#2 SPACE_TO_DEPTH (folded)", "#3 CONV_2D (conv_tanh)", "TANH")
    assert msg.count("  - ") == 3, msg


# ---- malformed flatbuffers: in-range indices, consistent quantization ----------------------------------------

def _corrupt(tmp_path: Path, how: str) -> Path:
    b, x, y = fc_builder()
    sg, op = b.sg, b.sg.operators[0]
    if how == "buffer index":
        sg.tensors[1].buffer = 99
    elif how == "opcode index":
        op.opcodeIndex = 7
    elif how == "op input index":
        op.inputs = np.asarray([x, 50, 2], dtype=np.int32)
    elif how == "negative input index":
        op.inputs = np.asarray([x, -5, 2], dtype=np.int32)
    elif how == "op output index":
        op.outputs = np.asarray([-1], dtype=np.int32)
    elif how == "graph input index":
        sg.inputs = [x, 40]
    elif how == "graph output index":
        sg.outputs = [y, 41]
    elif how == "tensor type":
        sg.tensors[y].type = 99
    elif how == "scale/zero point lengths":
        sg.tensors[y].quantization.zeroPoint = np.asarray([2, 2, 2], dtype=np.int64)
    elif how == "quantized dimension":
        q = sg.tensors[1].quantization
        q.scale = np.full(4, 0.01, np.float32)
        q.zeroPoint = np.zeros(4, np.int64)
        q.quantizedDimension = 5
    elif how == "const data size":
        b.model.buffers[sg.tensors[1].buffer].data = np.zeros(5, np.uint8)
    elif how == "no subgraph":
        b.model.subgraphs = []
    path = tmp_path / "bad.tflite"
    path.write_bytes(b.build())
    return path


@pytest.mark.parametrize("how", ["buffer index", "opcode index", "op input index", "negative input index",
                                 "op output index", "graph input index", "graph output index",
                                 "scale/zero point lengths", "quantized dimension", "const data size",
                                 "no subgraph"])
def test_malformed_flatbuffer(tmp_path, how):
    assert_error(edgec("build", _corrupt(tmp_path, how), "--out", tmp_path / "out"), EXIT_INPUT, "bad.tflite")


def test_unknown_tensor_type(tmp_path):
    assert_error(edgec("build", _corrupt(tmp_path, "tensor type"), "--out", tmp_path / "out"), EXIT_INPUT,
                 "#0 FULLY_CONNECTED (y)", "int8")


def test_brackets_in_messages_survive(tmp_path):
    """Messages are printed verbatim: `[out, depth]` in a rule is text, not console markup."""
    rng = np.random.default_rng(0)
    b = ModelBuilder()
    x = b.input("x", (1, 8), scale=0.05, zero_point=0)
    w = b.const("w", rng.integers(-127, 128, size=(4, 2, 4), dtype=np.int8), scale=0.01, zero_point=0)
    y = b.activation("y", (1, 4), scale=0.1, zero_point=0)
    b.op("FULLY_CONNECTED", [x, w], [y], "FullyConnectedOptions", fusedActivationFunction=0)
    b.output(y)
    path = tmp_path / "fc3d.tflite"
    path.write_bytes(b.build())
    # the rank check names the shape
    assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT, "shape [4, 2, 4]")


def test_few_weights_large_activations_with_layers(tmp_path):
    """TFLM's default arena (10x the file) is too small for such a model; `edgec test --layers` must size it."""
    b = ModelBuilder()
    x = b.input("x", (1, 64, 64, 3), scale=0.03, zero_point=0)
    w = b.const("w", np.ones((8, 1, 1, 3), np.int8), scale=[0.01] * 8, zero_point=[0] * 8)
    bias = b.const("b", np.zeros(8, np.int32), scale=[0.0003] * 8, zero_point=[0] * 8)
    y = b.activation("y", (1, 64, 64, 8), scale=0.05, zero_point=0)
    b.op("CONV_2D", [x, w, bias], [y], "Conv2DOptions", padding=0, strideH=1, strideW=1, dilationHFactor=1,
         dilationWFactor=1, fusedActivationFunction=0)
    b.output(y)
    path = tmp_path / "wide.tflite"
    path.write_bytes(b.build())
    res = edgec("test", path, "--out", tmp_path / "out", "--samples", "2", "--layers")
    assert res.returncode == 0, res.stderr


def test_random_byte_corruption_never_crashes(tmp_path, fc_model):
    """Flipped bytes may still make a valid model; they must never escape as a traceback."""
    data = bytearray(fc_model.read_bytes())
    rng = np.random.default_rng(0)
    path = tmp_path / "flip.tflite"
    for _ in range(30):
        bad = bytearray(data)
        for pos in rng.integers(8, len(bad), size=3):
            bad[pos] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(bad))
        res = build_in_process(path, tmp_path / "out")
        assert res.exit_code in (0, EXIT_INPUT), res.output
        assert "internal error" not in res.output, res.output


# ---- usage: board, compiler, output folder --------------------------------------------------------------------

def test_unknown_board(tmp_path, fc_model):
    assert_error(edgec("build", fc_model, "--board", "nosuchboard", "--out", tmp_path / "out"), EXIT_INPUT,
                 "nosuchboard", "known boards", "host")


def test_missing_c_compiler(tmp_path, fc_model):
    res = edgec("test", fc_model, "--out", tmp_path / "out", "--samples", "2", env={"CC": "/nonexistent/gcc"})
    assert_error(res, EXIT_TOOLCHAIN, "gcc", "compiler")


def test_c_compiler_that_fails(tmp_path, fc_model):
    res = edgec("test", fc_model, "--out", tmp_path / "out", "--samples", "2", env={"CC": "false"})
    assert_error(res, EXIT_TOOLCHAIN, "compiler failed")


def test_out_is_a_user_folder(tmp_path, fc_model):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious\n")
    assert_error(edgec("build", fc_model, "--out", out), EXIT_INPUT, "mine", "not an edgec output folder")
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    assert (out / "thesis.tex").read_text() == "precious\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mine")], "staging folder left behind"


def test_out_is_a_file(tmp_path, fc_model):
    out = tmp_path / "notes.txt"
    out.write_text("keep me\n")
    assert_error(edgec("build", fc_model, "--out", out), EXIT_INPUT, "notes.txt")
    assert out.read_text() == "keep me\n"


def test_rebuild_over_own_output_is_fine(tmp_path, fc_model):
    out = tmp_path / "out"
    for _ in range(2):
        res = edgec("build", fc_model, "--out", out)
        assert res.returncode == 0, res.stderr


# ---- --inputs ------------------------------------------------------------------------------------------------

def _inputs_file(tmp_path: Path, kind: str) -> Path:
    good = np.random.default_rng(0).integers(-128, 128, size=(3, 1, 8), dtype=np.int8)
    if kind == "text":
        p = tmp_path / "in.npz"
        p.write_text("1,2,3\n")
    elif kind == "wrong shape":
        p = tmp_path / "in.npz"
        np.savez(p, x=np.zeros((3, 1, 7), np.int8))
    elif kind == "nan":
        p = tmp_path / "in.npz"
        a = np.zeros((3, 1, 8), np.float32)
        a[1, 0, 3] = np.nan
        np.savez(p, x=a)
    elif kind == "two arrays":
        p = tmp_path / "in.npz"
        np.savez(p, a=good, b=good)
    elif kind == "no arrays":
        p = tmp_path / "in.npz"
        np.savez(p)
    elif kind == "out of range":
        p = tmp_path / "in.npy"
        np.save(p, good.astype(np.int32) * 3)
    elif kind == "strings":
        p = tmp_path / "in.npy"
        np.save(p, np.full((3, 1, 8), "a"))
    elif kind == "objects":
        p = tmp_path / "in.npz"
        np.savez(p, x=np.asarray([None, 1], dtype=object))
    elif kind == "scalar":
        p = tmp_path / "in.npy"
        np.save(p, np.int8(3))
    elif kind == "zero samples":
        p = tmp_path / "in.npy"
        np.save(p, np.zeros((0, 1, 8), np.int8))
    elif kind == "missing":
        p = tmp_path / "nothere.npz"
    return p


@pytest.mark.parametrize("kind", ["text", "wrong shape", "nan", "two arrays", "no arrays", "out of range", "strings",
                                  "objects", "scalar", "zero samples", "missing"])
def test_bad_inputs_file(tmp_path, fc_model, kind):
    data = _inputs_file(tmp_path, kind)
    res = edgec("test", fc_model, "--out", tmp_path / "out", "--inputs", data, "--samples", "2")
    assert_error(res, EXIT_INPUT, data.name)


def test_good_inputs_file(tmp_path, fc_model):
    p = tmp_path / "in.npz"
    np.savez(p, x=np.random.default_rng(0).integers(-128, 128, size=(3, 1, 8), dtype=np.int8))
    res = edgec("test", fc_model, "--out", tmp_path / "out", "--inputs", p)
    assert res.returncode == 0, res.stderr
    assert "PASS" in res.stderr


# ---- exit 1: the C disagrees with TFLM -------------------------------------------------------------------------

@pytest.fixture
def flipped_run(monkeypatch):
    """host.run, but the first output byte of every sample is off by one LSB (as a wrong kernel would be)."""
    real_run = host.run

    def run(exe, samples):
        raw = bytearray(real_run(exe, samples))
        per = len(raw) // len(samples)
        for s in range(len(samples)):
            v = raw[s * per]
            raw[s * per] = (v + 1) & 0xFF if v != 0x7F else 0x7E  # +-1 LSB as int8, never wrapping
        return bytes(raw)

    monkeypatch.setattr(host, "run", run)


def test_driver_detects_a_flipped_byte(tmp_path, fc_model, flipped_run):
    r = validate.test(fc_model, tmp_path / "out", samples=4)
    assert not r.passed
    assert r.rows[0].max_abs_diff_lsb == 1
    assert r.layers is not None and validate.first_differing_layer(r.layers) is not None
    r = validate.test(fc_model, tmp_path / "out", samples=4, tolerance=1)
    assert r.passed


def test_cli_exit_1_when_outputs_differ(tmp_path, fc_model, flipped_run):
    runner = CliRunner()
    res = runner.invoke(cli.main, ["test", str(fc_model), "--out", str(tmp_path / "out"), "--samples", "4"])
    assert res.exit_code == EXIT_VALIDATION, res.output
    assert "FAIL" in res.output and "first differing" in res.output
    res = runner.invoke(cli.main, ["test", str(fc_model), "--out", str(tmp_path / "out"), "--samples", "4",
                                   "--tolerance", "1"])
    assert res.exit_code == 0, res.output


def test_cli_exit_0_when_outputs_agree(tmp_path, fc_model):
    res = CliRunner().invoke(cli.main, ["test", str(fc_model), "--out", str(tmp_path / "out"), "--samples", "4"])
    assert res.exit_code == 0, res.output


def test_error_messages_show_control_characters_of_names_as_text(tmp_path):
    """A file name holding a terminal escape sequence, a carriage return and an emoji code reaches the message as
    visible text: no raw ESC or CR on the terminal, no emoji substituted."""
    bad = tmp_path / "a\x1b[31mred\rx:smile:.tflite"
    bad.write_bytes(b"not a model")
    msg = assert_error(edgec("build", bad, "--out", tmp_path / "out"), 2, "neither a TFLite flatbuffer")
    assert "\x1b" not in msg and "\r" not in msg
    assert "a\\x1b[31mred\\x0dx:smile:.tflite" in msg


@pytest.mark.parametrize("conversion", [(), ("--dtype", "float32"), ("--calib", "calib.npz")])
@pytest.mark.parametrize("op", ["ABS", "RELU", "LEAKY_RELU", "HARD_SWISH"])
def test_declared_output_shape_that_the_op_does_not_compute(tmp_path, op, conversion):
    """A file may declare an elementwise op's output bigger than its input: refused by name before calibration
    runs the op (it used to reach the quantizer, or a kernel writing 4 of 5 declared elements)."""
    b = ModelBuilder()
    dtype = {"scale": 0.05, "zero_point": 1} if not conversion else {}
    x = b.input("x", (1, 4), np.int8 if not conversion else np.float32, **dtype)
    y = b.activation("y", (1, 5), np.int8 if not conversion else np.float32, **dtype)
    if op == "LEAKY_RELU":
        b.op(op, [x], [y], "LeakyReluOptions", alpha=0.2)
    else:
        b.op(op, [x], [y])
    b.output(y)
    model = tmp_path / "m.tflite"
    model.write_bytes(b.build())
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(0).random((4, 1, 4), dtype=np.float32))
    args = [a if a != "calib.npz" else tmp_path / "calib.npz" for a in conversion]
    assert_error(edgec("build", model, *args, "--out", tmp_path / "out"), EXIT_INPUT,
                 f"{op} (y)", "output y has shape (1, 5) but the op computes (1, 4)")
    assert not (tmp_path / "out").exists()
