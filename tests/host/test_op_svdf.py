"""SVDF (int8 with its int16 state, and float32): edgec's numpy reference and C (ASan+UBSan) against TFLite Micro
over streams of invocations, the state carried from one invocation to the next in all three (TFLM and the C
harness keep it between samples; the numpy run is given one state for the stream). int8 at 0 LSB, float32 within
the float tolerance. Also: `<prefix>_reset()` restarts the stream, the state sits outside the arena and is
reported apart, and the int8 path refuses what TFLite Micro's SVDF does not run."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, assert_float_close, run_three_ways

from edgec import codegen, driver, host, reference
from edgec.errors import UnsupportedError

F32 = np.float32


def svdf_model(batch, inputs, filters, memory, rank, seed, dtype="int8", state_zp=0, act=0) -> bytes:
    rng = np.random.default_rng(seed)
    units = filters // rank
    b = ModelBuilder()
    if dtype == "float32":
        x = b.input("x", (batch, inputs), np.float32)
        wf = b.const("wf", rng.uniform(-1, 1, (filters, inputs)).astype(F32))
        wt = b.const("wt", rng.uniform(-1, 1, (filters, memory)).astype(F32))
        bias = b.const("bias", rng.uniform(-1, 1, (units,)).astype(F32))
        st = b.variable("state", (batch, filters * memory), np.float32)
        y = b.activation("y", (batch, units), np.float32)
    else:
        # scales that keep the state and the output mostly inside their ranges (saturation is tested too, rarely)
        sx, swf = 0.05, 0.01
        # accumulators: the feature sum's std is about 5400 sqrt(inputs), the time sum's 19000 * state std per term
        ss = sx * swf * 5400 * np.sqrt(inputs) / 4000
        swt = float(rng.uniform(0.5, 2.0)) / 32768
        sy = ss * swt * 19000 * 4000 * np.sqrt(rank * memory) / 40
        x = b.input("x", (batch, inputs), scale=sx, zero_point=int(rng.integers(-40, 40)))
        wf = b.const("wf", rng.integers(-127, 128, (filters, inputs), dtype=np.int8), scale=swf)
        wt = b.const("wt", rng.integers(-32767, 32768, (filters, memory), dtype=np.int16), scale=swt)
        bias = b.const("bias", rng.integers(-30000, 30000, (units,), dtype=np.int32), scale=ss * swt)
        st = b.variable("state", (batch, filters * memory), np.int16, scale=ss, zero_point=state_zp)
        y = b.activation("y", (batch, units), scale=sy, zero_point=int(rng.integers(-40, 40)))
    b.op("SVDF", [x, wf, wt, bias, st], [y], "SVDFOptions", rank=rank, fusedActivationFunction=act)
    b.output(y)
    return b.build()


def random_case(seed):
    rng = np.random.default_rng(1000 + seed)
    rank = int(rng.integers(1, 4))
    return dict(batch=int(rng.integers(1, 3)), inputs=int(rng.integers(1, 12)), filters=rank * int(rng.integers(1, 5)),
                memory=int(rng.integers(1, 8)), rank=rank, seed=seed)


@pytest.mark.parametrize("seed", range(12))
def test_svdf_int8_stream(tmp_path, seed):
    case = random_case(seed)
    r = run_three_ways(svdf_model(**case), tmp_path, samples=7, seed=seed)
    assert_bit_exact(r)
    outs = np.stack([s[0] for s in r["tflm"]])
    assert len({o.tobytes() for o in outs}) > 1 and np.mean((outs == -128) | (outs == 127)) < 0.5, case


def test_svdf_int8_state_carries(tmp_path):
    """The same frame twice gives two outputs (the second sees the first in its history): the state is real."""
    model = svdf_model(1, 5, 4, 3, 2, seed=7)
    frame = [np.arange(-2, 3, dtype=np.int8).reshape(1, 5) * 20]
    r = run_three_ways(model, tmp_path, inputs=[frame, frame, frame])
    assert_bit_exact(r)
    assert not np.array_equal(r["tflm"][0][0], r["tflm"][1][0])


def test_svdf_int8_state_zero_point(tmp_path):
    """A state with a non-zero zero point (TFLM reads it on both sides of the history)."""
    assert_bit_exact(run_three_ways(svdf_model(2, 6, 6, 4, 3, seed=3, state_zp=5), tmp_path, samples=6))


@pytest.mark.parametrize("seed", range(6))
def test_svdf_float32_stream(tmp_path, seed):
    case = random_case(seed)
    rng = np.random.default_rng(seed)
    xs = [[rng.uniform(-2, 2, (case["batch"], case["inputs"])).astype(F32)] for _ in range(6)]
    r = run_three_ways(svdf_model(**case, dtype="float32", act=seed % 2), tmp_path, dtype="float32", inputs=xs)
    assert_float_close(r)


RESET_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include "model.h"
#define N %(n)d
/* a stream of N frames, reset, the same stream again: both halves must be the same outputs */
int main(void) {
    static int8_t in[N][%(P)s_INPUT0_SIZE];
    if (fread(in, 1, sizeof in, stdin) != sizeof in) return 2;
    %(p)s_init();
    for (int round = 0; round < 2; round++) {
        for (int s = 0; s < N; s++) {
            for (int i = 0; i < %(P)s_INPUT0_SIZE; i++) %(p)s_input(0)[i] = in[s][i];
            %(p)s_invoke();
            fwrite(%(p)s_output(0), 1, %(P)s_OUTPUT0_SIZE, stdout);
        }
        %(p)s_reset();
    }
    return 0;
}
"""


def test_svdf_reset_and_state_outside_arena(tmp_path):
    path = tmp_path / "svdf.tflite"
    path.write_bytes(svdf_model(2, 5, 6, 4, 2, seed=11))
    b = driver.build(path, tmp_path / "out")
    prefix = codegen.model_prefix(b.graph.name)
    assert b.report["state_bytes"] == 2 * 6 * 4 * 2  # int16 [2, 24]
    assert b.report["peak_sram_bytes"] == b.report["arena_bytes"] + b.report["state_bytes"]
    assert "state" not in (b.out / "plan.json").read_text()  # not an arena buffer
    model_c = (b.out / "model.c").read_text()
    assert f"void {prefix}_reset(void)" in model_c and f"{prefix.upper()}_STATE_BYTES 96" in (
        b.out / "model.h").read_text()
    (b.out / "reset_main.c").write_text(RESET_MAIN % dict(n=5, p=prefix, P=prefix.upper()))
    sources = [s if s != "main.c" else "reset_main.c" for s in b.sources]
    exe = host.build(b.out, sources, exe="reset", sanitize=True)
    rng = np.random.default_rng(0)
    xs = [[rng.integers(-128, 128, (2, 5), dtype=np.int8)] for _ in range(5)]
    raw = np.frombuffer(host.run(exe, xs), dtype=np.int8).reshape(2, 5, 2, 3)
    tflm, _ = reference.run_tflm(path, xs)
    expected = np.stack([s[0] for s in tflm])
    np.testing.assert_array_equal(raw[0], expected)
    np.testing.assert_array_equal(raw[1], expected)  # after _reset(): the stream starts over


def test_svdf_refuses_int8_state(tmp_path):
    """int8 weights_time and state (TFLM has that variant too) are refused with the rule naming them."""
    b = ModelBuilder()
    x = b.input("x", (1, 4), scale=0.05)
    wf = b.const("wf", np.ones((2, 4), np.int8), scale=0.01)
    wt = b.const("wt", np.ones((2, 3), np.int8), scale=0.01)
    bias = b.const("bias", np.zeros(2, np.int32), scale=0.0001)
    st = b.variable("state", (1, 6), np.int8, scale=0.01)
    y = b.activation("y", (1, 2), scale=0.1)
    b.op("SVDF", [x, wf, wt, bias, st], [y], "SVDFOptions", rank=1)
    b.output(y)
    path = tmp_path / "m.tflite"
    path.write_bytes(b.build())
    with pytest.raises(UnsupportedError, match="int8 weights_time and state"):
        driver.build(path, tmp_path / "out")
