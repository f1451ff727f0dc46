"""Post-training quantization (edgec.quantizer), calibration loading (edgec.calib) and the .tflite writer, in
Python only: observers and range methods, weight/bias rules, the quantization TFLite imposes per op, the float
graph -> int8 graph rewrite, and an export -> import round trip."""

from pathlib import Path

import numpy as np
import pytest

from edgec.calib import load_calibration
from edgec.errors import InputError, UnsupportedError
from edgec.exporters import write_tflite
from edgec.importers import import_model
from edgec.ir import Graph, Op, Tensor
from edgec.passes import canonicalize
from edgec.quantizer import (
    Observer,
    choose_range,
    qparams,
    quantize_bias,
    quantize_graph,
    quantize_weights,
)
from edgec.reference import run_numpy


def f32(name, shape, data=None):
    return Tensor(name=name, shape=tuple(shape), dtype="float32", data=data)


def small_float_graph(seed=0) -> Graph:
    """x -> conv(relu) -> maxpool -> depthwise -> add(pool) -> reshape -> fc -> softmax / logistic;
    concat(softmax output, logits) is a graph output, so the fixed softmax quantization meets a concat."""
    rng = np.random.default_rng(seed)
    w = lambda *s: (rng.normal(size=s) * 0.3).astype(np.float32)  # noqa: E731
    ts = [f32("x", (1, 8, 8, 2)), f32("c1", (1, 8, 8, 4)), f32("p1", (1, 4, 4, 4)), f32("d1", (1, 4, 4, 4)),
          f32("a1", (1, 4, 4, 4)), f32("r1", (1, 64)), f32("logits", (1, 10)), f32("probs", (1, 10)),
          f32("sig", (1, 10)), f32("cat", (1, 20)),
          f32("w1", (4, 3, 3, 2), w(4, 3, 3, 2)), f32("b1", (4,), w(4)),
          f32("wd", (1, 3, 3, 4), w(1, 3, 3, 4)), f32("bd", (4,), w(4)),
          f32("wf", (10, 64), w(10, 64)), f32("bf", (10,), w(10))]
    conv = dict(padding="SAME", stride_h=1, stride_w=1, dilation_h=1, dilation_w=1)
    ops = [Op("conv2d", "conv", ["x", "w1", "b1"], ["c1"], dict(conv, activation="RELU")),
           Op("max_pool2d", "pool", ["c1"], ["p1"], dict(padding="VALID", stride_h=2, stride_w=2, filter_h=2,
                                                          filter_w=2, activation="NONE")),
           Op("depthwise_conv2d", "dw", ["p1", "wd", "bd"], ["d1"], dict(conv, activation="NONE",
                                                                          depth_multiplier=1)),
           Op("add", "add", ["p1", "d1"], ["a1"], dict(activation="NONE")),
           Op("reshape", "flat", ["a1"], ["r1"]),
           Op("fully_connected", "fc", ["r1", "wf", "bf"], ["logits"], dict(activation="NONE")),
           Op("softmax", "softmax", ["logits"], ["probs"], dict(beta=1.0)),
           Op("logistic", "sigmoid", ["logits"], ["sig"]),
           Op("concat", "cat", ["probs", "logits"], ["cat"], dict(axis=1, activation="NONE"))]
    return Graph(name="small", tensors={t.name: t for t in ts}, ops=ops, inputs=["x"], outputs=["cat", "sig"])


def samples(g, n=16, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.uniform(-1, 1, size=g.t(i).shape).astype(np.float32) for i in g.inputs] for _ in range(n)]


# ---- observers and ranges ---------------------------------------------------------------------------------------

def test_observer_keeps_exact_minmax_and_every_value_while_its_range_doubles():
    rng = np.random.default_rng(0)
    obs = Observer()
    chunks = [rng.normal(size=1000) * s for s in (0.1, 1.0, 30.0, 2.0)]  # the range grows twice by far
    for c in chunks:
        obs.update(c)
    allv = np.concatenate(chunks)
    assert obs.lo == allv.min() and obs.hi == allv.max()
    edges, counts = obs.histogram()
    assert counts.sum() == allv.size
    assert edges[0] <= allv.min() and edges[-1] >= allv.max()
    # histogram counts equal numpy's on the final bins (the merges were exact)
    ref, _ = np.histogram(allv, bins=edges)
    assert np.abs(ref - counts).sum() <= 4  # values exactly on an edge may fall either side


def test_percentile_matches_numpy_within_a_bin():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(size=100_000), [50.0, -40.0]])  # two outliers
    obs = Observer()
    obs.update(x)
    lo, hi = choose_range(obs, "percentile", 99.9)
    bin_width = 64.0 / 2048  # the positive top is at most 2 * 50 after doubling
    assert abs(hi - np.percentile(x, 99.9)) < 2 * bin_width
    assert abs(lo - np.percentile(x, 0.1)) < 2 * bin_width
    assert choose_range(obs, "minmax") == (-40.0, 50.0)


@pytest.mark.parametrize("method", ["mse", "kl"])
def test_mse_and_kl_clip_outliers_and_lower_the_error(method):
    """Two outliers at +-60 among 200,000 Laplace values (|x| < 13): both methods clip them."""
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.laplace(size=200_000), [60.0, -60.0]])
    obs = Observer()
    obs.update(x)
    lo, hi = choose_range(obs, method)
    assert 2.0 < hi < 50.0 and -50.0 < lo < -2.0, (lo, hi)

    body = x[:-2]

    def mse(lo, hi):
        s, zp = qparams(lo, hi)
        q = np.clip(np.round(body / s) + zp, -128, 127)
        return np.mean((s * (q - zp) - body) ** 2)

    assert mse(lo, hi) < 0.5 * mse(-60.0, 60.0)  # the typical values are resolved better


@pytest.mark.parametrize("signed", [False, True])
def test_kl_keeps_the_spread_inside_the_range_despite_a_spike(signed):
    """90 % of the values are one constant (a bias over a black background), 10 % a spread up to 4: TensorRT's
    plain score clips the spread to sharpen the spike; edgec's kl must keep (nearly) all of it inside."""
    rng = np.random.default_rng(3)
    spread = rng.uniform(0.0, 4.0, size=20_000)
    if signed:
        spread *= rng.choice([-1.0, 1.0], size=spread.size)
    x = np.concatenate([np.full(180_000, 0.3), spread])
    obs = Observer()
    obs.update(x)
    lo, hi = choose_range(obs, "kl")
    assert hi > 0.95 * 4.0 and (lo < -0.95 * 4.0 if signed else lo == obs.lo), (lo, hi)
    assert lo <= 0.3 <= hi


def test_kl_clips_a_long_thin_tail():
    """A Gaussian body with a thin exponential tail (0.1 % of the values out to about 30 sigma): KL's threshold
    lands well inside the tail but outside the body (TensorRT's behaviour), here on one-signed (ReLU-like) data."""
    rng = np.random.default_rng(4)
    x = np.abs(np.concatenate([rng.normal(size=200_000), 3.0 + rng.exponential(4.0, size=200)]))
    obs = Observer()
    obs.update(x)
    lo, hi = choose_range(obs, "kl")
    assert lo == obs.lo and 3.0 < hi < 0.8 * x.max(), (hi, x.max())


def test_qparams_represent_zero_exactly_and_cover_the_range():
    for lo, hi in [(0.0, 6.0), (-1.0, 3.0), (0.5, 2.0), (-5.0, -1.0), (0.0, 0.0)]:
        s, zp = qparams(lo, hi)
        assert s > 0 and -128 <= zp <= 127
        assert s * (-128 - zp) <= min(lo, 0.0) + s and s * (127 - zp) >= max(hi, 0.0) - s


def test_weights_symmetric_per_channel_and_bias_at_accumulator_scale():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(8, 3, 3, 4)).astype(np.float32) * np.arange(1, 9).reshape(8, 1, 1, 1)
    w[5] = 0.0
    q, s = quantize_weights(w, 0)
    assert q.dtype == np.int8 and s.shape == (8,) and s.dtype == np.float32
    assert np.all(np.abs(q).reshape(8, -1).max(axis=1)[np.arange(8) != 5] == 127) and not q[5].any()
    assert q.min() >= -127  # symmetric: -128 is never used
    err = np.abs(q * s.reshape(8, 1, 1, 1) - w)
    assert np.all(err <= s.reshape(8, 1, 1, 1) / 2 + 1e-7)
    qd, sd = quantize_weights(w.transpose(3, 1, 2, 0)[:1], 3)  # depthwise layout [1, KH, KW, O]: axis 3
    assert sd.shape == (8,)
    b = rng.normal(size=8).astype(np.float32)
    bq, sb = quantize_bias(b, 0.05, s)
    assert bq.dtype == np.int32
    np.testing.assert_allclose(sb, (0.05 * s.astype(np.float64)).astype(np.float32))
    assert np.all(np.abs(bq * sb.astype(np.float64) - b) <= sb / 2 + 1e-9)


# ---- the graph rewrite -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["minmax", "percentile", "mse", "kl"])
def test_quantize_graph_produces_a_valid_int8_graph_close_to_float(method):
    g = small_float_graph()
    xs = samples(g)
    q = quantize_graph(g, xs, method=method)
    assert all(g.t(n).dtype == "float32" for n in g.tensors)  # the float graph is left as it was
    for name in q.inputs + q.outputs:
        assert q.t(name).dtype == "int8" and q.t(name).quant is not None
    assert q.meta["quantization"]["method"] == method
    assert q.meta["quantization"]["inputs"]["x"]["scale"] == q.t("x").scale
    # weights per channel along TFLite's axes, biases int32 at s_x * s_w
    assert q.t("w1").quant.axis == 0 and q.t("w1").quant.scale.size == 4
    assert q.t("wd").quant.axis == 3 and q.t("wd").quant.scale.size == 4
    assert q.t("wf").quant.axis == 0 and q.t("wf").quant.scale.size == 10
    for b, x, w in (("b1", "x", "w1"), ("bd", "p1", "wd"), ("bf", "r1", "wf")):
        assert q.t(b).dtype == "int32"
        np.testing.assert_allclose(q.t(b).quant.scale, q.t(x).scale * q.t(w).quant.scale, rtol=1e-6)
    # quantization TFLite imposes
    assert (q.t("p1").scale, q.t("p1").zero_point) == (q.t("c1").scale, q.t("c1").zero_point)  # pool
    assert (q.t("r1").scale, q.t("r1").zero_point) == (q.t("a1").scale, q.t("a1").zero_point)  # reshape
    assert (q.t("probs").scale, q.t("probs").zero_point) == (1 / 256, -128)
    assert (q.t("sig").scale, q.t("sig").zero_point) == (1 / 256, -128)
    # concat: logits joined the output's quantization; the fixed softmax output is requantized into it
    assert (q.t("logits").scale, q.t("logits").zero_point) == (q.t("cat").scale, q.t("cat").zero_point)
    requant = [op for op in q.ops if op.type == "quantize"]
    assert len(requant) == 1 and requant[0].inputs == ["probs"]
    cat = next(op for op in q.ops if op.type == "concat")
    assert cat.inputs[0] == requant[0].outputs[0] and q.t(cat.inputs[0]).quant.scale == q.t("cat").quant.scale
    # the int8 graph computes what the float graph does, to within a few output steps
    qc = canonicalize(q)
    for x in xs[:4]:
        fl = run_numpy(g, x)
        xq = np.clip(np.round(x[0] / q.t("x").scale) + q.t("x").zero_point, -128, 127).astype(np.int8)
        ours = run_numpy(qc, [xq])
        for name in ("sig", "cat"):
            t = q.t(name)
            deq = (ours[name].astype(np.float64) - t.zero_point) * t.scale
            span = float(fl[name].max() - fl[name].min())
            assert np.abs(deq - fl[name]).max() <= 0.1 * span + 3 * t.scale, (name, method)


def test_quantize_graph_rejects_bad_arguments():
    g = small_float_graph()
    with pytest.raises(InputError, match="unknown calibration method 'entropy'"):
        quantize_graph(g, samples(g, 2), method="entropy")
    with pytest.raises(InputError, match="no calibration samples"):
        quantize_graph(g, [], method="minmax")
    bad = samples(g, 2)
    bad[1][0][0, 1, 2, 1] = np.nan  # quantize_graph called directly, without load_calibration's checks
    with pytest.raises(InputError, match="calibration sample 1: model input x holds 1 values that are NaN"):
        quantize_graph(g, bad)


def test_quantize_graph_rejects_an_int8_graph():
    g = small_float_graph()
    g.t("x").dtype = "int8"
    with pytest.raises(UnsupportedError, match="quantizer needs a float32 model"):
        quantize_graph(g, samples(small_float_graph(), 2))


def test_progress_callback_counts_samples():
    g = small_float_graph()
    seen = []
    quantize_graph(g, samples(g, 5), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 5) for k in range(1, 6)]


# ---- .tflite export -> import round trip -----------------------------------------------------------------------

def test_exported_tflite_imports_back_to_the_same_graph(tmp_path):
    g = small_float_graph()
    q = quantize_graph(g, samples(g))
    path = write_tflite(q, tmp_path / "q.tflite")
    back = import_model(path)
    assert back.inputs == q.inputs and back.outputs == q.outputs
    assert [op.type for op in back.ops] == [op.type for op in q.ops]
    for a, b in zip(q.ops, back.ops):
        assert b.attrs["tflite_outputs"] == a.attrs["tflite_outputs"]  # set by write_tflite for the layer diff
        for k, v in a.attrs.items():
            if k not in ("label", "tflite_op"):
                assert b.attrs.get(k) == v, (a.name, k)
        for i, j in zip(a.inputs, b.inputs):
            ta, tb = q.t(i), back.t(j)
            assert (ta.dtype, tuple(ta.shape)) == (tb.dtype, tuple(tb.shape))
            np.testing.assert_array_equal(ta.quant.scale, tb.quant.scale)
            np.testing.assert_array_equal(ta.quant.zero_point, tb.quant.zero_point)
            if ta.is_const:
                np.testing.assert_array_equal(ta.data, tb.data)


# ---- calibration data ------------------------------------------------------------------------------------------

def nchw_graph():
    g = small_float_graph()
    g.meta["input_layouts"] = {"x": "NCHW"}
    return g


def test_npz_in_nchw_is_transposed_and_preprocessed(tmp_path):
    g = nchw_graph()
    raw = np.random.default_rng(0).integers(0, 256, size=(5, 2, 8, 8)).astype(np.uint8)  # N, C, H, W
    np.savez(tmp_path / "c.npz", images=raw, labels=np.arange(5))
    xs = load_calibration(tmp_path / "c.npz", g, scale=1 / 255, mean=[0.5, 0.25], std=0.5)
    assert len(xs) == 5 and xs[0][0].shape == (1, 8, 8, 2) and xs[0][0].dtype == np.float32
    expect = (raw[3].transpose(1, 2, 0) / 255 - np.array([0.5, 0.25])) / 0.5
    np.testing.assert_allclose(xs[3][0][0], expect, rtol=1e-6)
    assert len(load_calibration(tmp_path / "c.npz", g, limit=2)) == 2
    np.save(tmp_path / "c.npy", raw[:, None])  # with the model's batch dimension of 1
    np.testing.assert_array_equal(load_calibration(tmp_path / "c.npy", g)[3][0], raw[3].transpose(1, 2, 0)[None])


def test_named_array_and_layout_override(tmp_path):
    g = small_float_graph()
    a = np.random.default_rng(0).normal(size=(3, 8, 8, 2)).astype(np.float32)
    np.savez(tmp_path / "c.npz", other=np.zeros((3, 5)), mine=a)
    xs = load_calibration(tmp_path / "c.npz", g, key="mine")
    np.testing.assert_array_equal(xs[2][0][0], a[2])
    xs = load_calibration(tmp_path / "c.npz", g, key="mine", layout="NHWC")
    with pytest.raises(InputError, match="has no array `nope`"):
        load_calibration(tmp_path / "c.npz", g, key="nope")
    with pytest.raises(InputError, match=r"do not fit input x, which takes \(1, 2, 8, 8\) \(NCHW"):
        load_calibration(tmp_path / "c.npz", g, key="mine", layout="NCHW")


def test_image_folder(tmp_path):
    from PIL import Image

    g = small_float_graph()  # 1x8x8x2: two channels are not an image
    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, size=(16, 12, 3), dtype=np.uint8)).save(tmp_path / f"{k}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match="images need a 1xHxWx1 or 1xHxWx3 input"):
        load_calibration(tmp_path, g)
    g.tensors["x"] = f32("x", (1, 8, 8, 3))
    xs = load_calibration(tmp_path, g, scale=1 / 255)
    assert len(xs) == 3 and xs[0][0].shape == (1, 8, 8, 3) and 0 <= xs[0][0].min() and xs[0][0].max() <= 1
    g.tensors["x"] = f32("x", (1, 8, 8, 1))
    assert load_calibration(tmp_path, g, limit=2)[1][0].shape == (1, 8, 8, 1)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match="broken.png: not a readable image"):
        load_calibration(tmp_path, g)


@pytest.mark.parametrize("bad, message", [
    (np.full((4, 8, 8, 2), np.nan, np.float32), "contains NaN or Inf"),
    (np.zeros((4, 8, 8, 3), np.float32), r"samples of shape \(8, 8, 3\) do not fit input x"),
    (np.zeros((4, 64), np.float32), r"samples of shape \(64,\) do not fit input x"),
    (np.array(["a", "b"]), "must be a numeric array"),
])
def test_bad_calibration_data(tmp_path, bad, message):
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(InputError, match=message):
        load_calibration(tmp_path / "bad.npy", small_float_graph())


def test_bad_calibration_source(tmp_path):
    g = small_float_graph()
    with pytest.raises(InputError, match="no such calibration file or folder"):
        load_calibration(tmp_path / "missing.npz", g)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a readable"):
        load_calibration(tmp_path / "junk.npz", g)
    (tmp_path / "empty").mkdir()
    g.tensors["x"] = f32("x", (1, 8, 8, 3))
    with pytest.raises(InputError, match="no image files"):
        load_calibration(tmp_path / "empty", g)
    g = small_float_graph()
    np.save(tmp_path / "ok.npy", np.zeros((2, 8, 8, 2), np.float32))
    with pytest.raises(InputError, match="std must not be 0"):
        load_calibration(tmp_path / "ok.npy", g, std=[1.0, 0.0])
    with pytest.raises(InputError, match="one number or one per channel"):
        load_calibration(tmp_path / "ok.npy", g, mean=[1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="layout must be one of"):
        load_calibration(tmp_path / "ok.npy", g, layout="CHWN")
    np.save(tmp_path / "none.npy", np.zeros((0, 8, 8, 2), np.float32))
    with pytest.raises(InputError, match="no calibration samples"):
        load_calibration(tmp_path / "none.npy", g)


def test_paths_are_accepted_as_strings(tmp_path):
    np.save(tmp_path / "ok.npy", np.zeros((2, 8, 8, 2), np.float32))
    assert len(load_calibration(str(tmp_path / "ok.npy"), small_float_graph())) == 2
    assert isinstance(write_tflite(quantize_graph(small_float_graph(), samples(small_float_graph(), 2)),
                                   str(tmp_path / "m.tflite")), Path)


def test_missing_calibration_message_says_what_to_do():
    from edgec.calib import missing_calibration_message

    text = missing_calibration_message("m.onnx")
    assert "m.onnx" in text and "--calib" in text and "--mean" in text


def test_a_constant_sub_output_gets_the_least_scale_its_kernel_takes():
    """x - x is always 0: calibration gives its output a tiny scale, below what SUB's int8 kernel takes
    (s_y > max(s_1, s_2) / 2^19, Operator.min_output_scale); the quantizer raises it to 1 % above that bound, and
    the int8 graph passes SUB's rules."""
    g = Graph(name="sub", tensors={n: f32(n, (1, 8)) for n in ("x", "y")}, inputs=["x"], outputs=["y"],
              ops=[Op("sub", "sub", ["x", "x"], ["y"], dict(activation="NONE"))])
    q = quantize_graph(g, samples(g, 4))
    floor = float(q.t("x").scale) / 2.0**19 * 1.01
    assert float(q.t("y").scale) == float(np.float32(floor))
