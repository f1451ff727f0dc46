"""UNIDIRECTIONAL_SEQUENCE_LSTM (int8 with TFLite Micro's integer 8x8->16 arithmetic, and float32): edgec's numpy
reference and C (ASan+UBSan) against TFLite Micro over random shapes (time-major and batch-major, T 1..5, batch
1..2) and streams of invocations with h and c carried between them. int8 at 0 LSB, float32 within the float
tolerance. Also: the sigmoid table edgec holds is TFLite Micro's (measured), and the LSTM variants TFLM lacks are
refused by name."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, assert_float_close, run_three_ways

from edgec import driver, reference
from edgec.errors import UnsupportedError
from edgec.ops.lstm import SIGMOID_TABLE

F32 = np.float32


def lstm_model(t_steps, batch, inputs, units, time_major, seed, dtype="int8", cell_power=-11, clip=0.0,
               variant=None, dynamic=False, gain=1.0) -> bytes:
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    xshape = (t_steps, batch, inputs) if time_major else (batch, t_steps, inputs)
    yshape = (*xshape[:2], units)
    aw = gain * 1.5 * np.sqrt(3) / (3.7 * np.sqrt(inputs))  # gate pre-activations of a few units (times gain)
    ar = gain * 1.5 * np.sqrt(3) / (0.5 * np.sqrt(units))
    ins = [-1] * 24
    if dtype == "float32":
        ins[0] = b.input("x", xshape, np.float32)
        for k in range(4):
            ins[1 + k] = b.const(f"w{k}", rng.uniform(-aw, aw, (units, inputs)).astype(F32))
            ins[5 + k] = b.const(f"r{k}", rng.uniform(-ar, ar, (units, units)).astype(F32))
            ins[12 + k] = b.const(f"b{k}", rng.uniform(-0.5, 0.5, units).astype(F32))
        ins[18] = b.variable("h", (batch, units), np.float32)
        ins[19] = b.variable("c", (batch, units), np.float32)
        y = b.activation("y", yshape, np.float32)
    elif dtype == "int16":  # 16x8: int16 activations, zero point 0, int64 biases
        sx, sh = 3.0 / 32768, 1.0 / 32768
        ins[0] = b.input("x", xshape, np.int16, scale=sx, zero_point=0)
        for k in range(4):
            sw, sr = float(aw / 127 * rng.uniform(0.7, 1.3)), float(ar / 127 * rng.uniform(0.7, 1.3))
            ins[1 + k] = b.const(f"w{k}", rng.integers(-127, 128, (units, inputs), dtype=np.int8), scale=sw)
            ins[5 + k] = b.const(f"r{k}", rng.integers(-127, 128, (units, units), dtype=np.int8), scale=sr)
            ins[12 + k] = b.const(f"b{k}", rng.integers(-int(0.5 / (sx * sw)), int(0.5 / (sx * sw)), units,
                                                        dtype=np.int64), scale=sx * sw)
        ins[18] = b.variable("h", (batch, units), np.int16, scale=sh, zero_point=0)
        ins[19] = b.variable("c", (batch, units), np.int16, scale=2.0 ** cell_power)
        y = b.activation("y", yshape, np.int16, scale=sh, zero_point=0)
    else:
        sx, sh, zh = 0.05, 1.0 / 128, int(rng.integers(-10, 10))
        ins[0] = b.input("x", xshape, scale=sx, zero_point=int(rng.integers(-30, 30)))
        for k in range(4):
            sw, sr = float(aw / 127 * rng.uniform(0.7, 1.3)), float(ar / 127 * rng.uniform(0.7, 1.3))
            ins[1 + k] = b.const(f"w{k}", rng.integers(-127, 128, (units, inputs), dtype=np.int8), scale=sw)
            ins[5 + k] = b.const(f"r{k}", rng.integers(-127, 128, (units, units), dtype=np.int8), scale=sr)
            ins[12 + k] = b.const(f"b{k}", rng.integers(-int(0.5 / (sx * sw)), int(0.5 / (sx * sw)), units,
                                                        dtype=np.int32), scale=sx * sw)
        ins[18] = b.variable("h", (batch, units), np.int8, scale=sh, zero_point=zh)
        ins[19] = b.variable("c", (batch, units), np.int16, scale=2.0 ** cell_power)
        y = b.activation("y", yshape, scale=sh, zero_point=zh)
    if dynamic:  # the sequence length left open in the shape signature (time-major: the first dimension)
        b.sg.tensors[ins[0]].shapeSignature = np.asarray([-1, *xshape[1:]], np.int32)
    if variant == "peephole":
        ins[9] = b.const("p", np.zeros(units, np.int16 if dtype == "int8" else np.float32))
    if variant == "projection":
        ins[16] = b.const("proj", np.zeros((units, units), np.int8 if dtype == "int8" else np.float32))
    if variant == "layer-norm":
        for k in range(20, 24):
            ins[k] = b.const(f"ln{k}", np.ones(units, np.int16 if dtype == "int8" else np.float32))
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], "UnidirectionalSequenceLSTMOptions", fusedActivationFunction=4,
         cellClip=clip, timeMajor=time_major)
    b.output(y)
    return b.build()


def random_case(seed):
    rng = np.random.default_rng(2000 + seed)
    return dict(t_steps=int(rng.integers(1, 6)), batch=int(rng.integers(1, 3)), inputs=int(rng.integers(1, 10)),
                units=int(rng.integers(1, 9)), time_major=bool(seed % 2), seed=seed)


@pytest.mark.parametrize("seed", range(12))
def test_lstm_int8_stream(tmp_path, seed):
    case = random_case(seed)
    power = [-11, -12, -10, -13][seed % 4]
    r = run_three_ways(lstm_model(**case, cell_power=power, clip=[0.0, 3.0][seed % 3 == 2]), tmp_path,
                       samples=4, seed=seed)
    assert_bit_exact(r)
    outs = np.concatenate([s[0].reshape(-1) for s in r["tflm"]])
    assert len(np.unique(outs)) > 2, case  # the LSTM is not stuck at one value


@pytest.mark.parametrize("seed", range(8))
def test_lstm_int16_stream(tmp_path, seed):
    """16x8 (int16 activations, int64 biases): 0 LSB against TFLite Micro over a stream of 4 invocations, the
    state carried on both sides; odd random shapes, both layouts, cell powers 2^-13 to 2^-10, a cell clip."""
    case = random_case(seed)
    power = [-11, -12, -10, -13][seed % 4]
    r = run_three_ways(lstm_model(**case, dtype="int16", cell_power=power, clip=[0.0, 3.0][seed % 3 == 2]),
                       tmp_path, samples=4, seed=seed)
    assert_bit_exact(r)
    outs = np.concatenate([s[0].reshape(-1) for s in r["tflm"]])
    assert outs.dtype == np.int16 and len(np.unique(outs)) > min(8, outs.size // 2), case  # not stuck


@pytest.mark.parametrize("power", [-15, -9])
def test_lstm_int16_saturating(tmp_path, power):
    """16x8 with gates driven past the table's end and a saturating cell, as the int8 case below."""
    r = run_three_ways(lstm_model(5, 2, 6, 7, power % 2 == 0, seed=50 + power, dtype="int16", cell_power=power,
                                  gain=12.0), tmp_path, samples=4, seed=-power)
    assert_bit_exact(r)


@pytest.mark.parametrize("power", [-15, -12, -9])
def test_lstm_int8_saturating(tmp_path, power):
    """Gates driven far past the table's end (Q3.12 pre-activations saturated at +-8), a cell that saturates its
    int16 range, cell powers from 2^-15 to 2^-9: the clamps and the table's end branches agree with TFLM too."""
    r = run_three_ways(lstm_model(5, 2, 6, 7, power % 2 == 0, seed=40 + power, cell_power=power, gain=12.0),
                       tmp_path, samples=5, seed=-power)
    assert_bit_exact(r)


@pytest.mark.parametrize("seed", range(6))
def test_lstm_float32_stream(tmp_path, seed):
    case = random_case(seed)
    rng = np.random.default_rng(seed)
    shape = ((case["t_steps"], case["batch"]) if case["time_major"] else (case["batch"], case["t_steps"]))
    xs = [[rng.uniform(-3, 3, (*shape, case["inputs"])).astype(F32)] for _ in range(4)]
    r = run_three_ways(lstm_model(**case, dtype="float32", clip=[0.0, 2.0][seed % 2]), tmp_path, dtype="float32",
                       inputs=xs)
    assert_float_close(r)


def test_sigmoid_table_is_tflms(tmp_path):
    """TFLM's int16 TANH at an input landing exactly on table entry j (input scale 1/6144: v = 2x, x = 128 j)
    returns T[j] - 32768: edgec's table is TFLM's, entry by entry."""
    b = ModelBuilder()
    x = b.input("x", (1, 255), np.int16, scale=1 / 6144, zero_point=0)
    y = b.activation("y", (1, 255), np.int16, scale=2.0 ** -15, zero_point=0)
    b.op("TANH", [x], [y])
    b.output(y)
    path = tmp_path / "tanh16.tflite"
    path.write_bytes(b.build())
    xs = (np.arange(255) * 128).astype(np.int16).reshape(1, -1)
    out, _ = reference.run_tflm(path, [[xs]])
    np.testing.assert_array_equal(out[0][0].reshape(-1).astype(np.int64) + 32768, SIGMOID_TABLE[:255])


@pytest.mark.parametrize("variant", ["peephole", "projection", "layer-norm"])
def test_lstm_variants_refused(tmp_path, variant):
    path = tmp_path / "m.tflite"
    path.write_bytes(lstm_model(2, 1, 3, 4, True, seed=0, dtype="float32", variant=variant))
    field = {"peephole": "9 cell_to_input_weights", "projection": "16 projection_weights",
             "layer-norm": "20 input_layer_norm_coefficients"}[variant]
    with pytest.raises(UnsupportedError, match=f"UNIDIRECTIONAL_SEQUENCE_LSTM.*a {variant} \\(input.*{field}.*"
                                               "peephole, projection, layer-norm and CIFG"):
        driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))


def test_lstm_dynamic_sequence_length_refused(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(lstm_model(3, 1, 3, 4, True, seed=0, dynamic=True))
    with pytest.raises(UnsupportedError, match="dynamic sequence length.*fixed sequence length"):
        driver.build(path, tmp_path / "out")
