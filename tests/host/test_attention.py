"""Row-wise attention (toolchain/attention.py, ops/attention.py): the fused op's C gives the same bits as the chain
of batch_matmul / mul / add / softmax / batch_matmul it replaces, it is chosen only where the planned arena gets
smaller, and on a ViT with 65 tokens it lowers the arena (figures in docs/memory.md)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper
from onnx_models import const, model, tiny_vit
from test_onnx_transformer import assert_close_to_ort

from edgec import attention, driver, host, reference, validate
from edgec.schedule import reorder_for_memory

F32 = np.float32


def _build(path, out, xs, mode: str, monkeypatch):
    """Build and run the C on the host: mode "auto" (the planner's choice), "fused" or "unfused" (forced)."""
    if mode == "fused":
        monkeypatch.setattr(driver, "choose_attention",
                            lambda g: reorder_for_memory(attention.fuse_attention(g)[0]))
    elif mode == "unfused":
        monkeypatch.setattr(driver, "choose_attention", lambda g: g)
    b = driver.build(path, out, conversion=driver.Conversion(dtype="float32"))
    monkeypatch.undo()
    exe = host.build(b.out, b.sources, sanitize=True)
    return b, validate.split_outputs(host.run(exe, xs), b.graph, len(xs))


def _bits(outputs) -> np.ndarray:
    return np.concatenate([np.asarray(y, F32).reshape(-1) for s in outputs for y in s]).view(np.uint32)


def test_masked_attention_fused_equals_chain(tmp_path, monkeypatch):
    """softmax(Q K^T * scale + causal mask) V, 2 heads of 9 tokens (3-D: [heads, tokens, dim]); K^T by a
    Transpose, which the fused op folds (it reads K with strides)."""
    n, d = 9, 8
    mask = np.triu(np.full((n, n), -1e9, F32), 1)
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Mul", ["s", "scale"], ["ss"]),
             helper.make_node("Add", ["ss", "mask"], ["sm"]),
             helper.make_node("Softmax", ["sm"], ["a"], axis=-1), helper.make_node("MatMul", ["a", "v"], ["y"])]
    m = model(nodes, {"q": [2, n, d], "k": [2, n, d], "v": [2, n, d]}, {"y": [2, n, d]},
              [const("scale", F32(d ** -0.5)), const("mask", mask)])
    path = tmp_path / "attn.onnx"
    onnx.save(m, path)
    rng = np.random.default_rng(0)
    xs = [[rng.standard_normal((2, n, d)).astype(F32) for _ in range(3)] for _ in range(4)]
    fused, y_fused = _build(path, tmp_path / "fused", xs, "fused", monkeypatch)
    assert [op.type for op in fused.graph.ops] == ["attention"]  # the transpose, both products, mul, add, softmax
    unfused, y_chain = _build(path, tmp_path / "unfused", xs, "unfused", monkeypatch)
    assert [op.type for op in unfused.graph.ops].count("batch_matmul") == 2
    assert np.array_equal(_bits(y_fused), _bits(y_chain))  # bit for bit
    ort = reference.run_onnxruntime(path, xs, fused.graph)
    assert_close_to_ort(dict(ort=ort, c=y_fused, numpy=[[reference.run_numpy(fused.graph, s)[o]
                                                         for o in fused.graph.outputs] for s in xs]))
    # the causal mask holds: the first query attends to the first key only, so its output is V's first row
    for x, y in zip(xs, y_fused):
        np.testing.assert_allclose(y[0].reshape(2, n, d)[:, 0], x[2][:, 0], rtol=1e-6)
    assert fused.plan.arena_bytes < unfused.plan.arena_bytes


def test_attention_scaled_by_a_division_fuses(tmp_path, monkeypatch):
    """(Q K^T) / sqrt(d), as many ViTs write it: the Div becomes a mul by the reciprocal, which the fusion takes."""
    n, d = 10, 8
    nodes = [helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Div", ["s", "root"], ["ss"]),
             helper.make_node("Softmax", ["ss"], ["a"], axis=-1), helper.make_node("MatMul", ["a", "v"], ["y"])]
    onnx.save(model(nodes, {"q": [2, n, d], "kt": [2, d, n], "v": [2, n, d]}, {"y": [2, n, d]},
                    [const("root", F32(np.sqrt(d)))]), tmp_path / "att.onnx")
    rng = np.random.default_rng(5)
    xs = [[rng.standard_normal(s).astype(F32) for s in ((2, n, d), (2, d, n), (2, n, d))] for _ in range(3)]
    fused, y = _build(tmp_path / "att.onnx", tmp_path / "out", xs, "auto", monkeypatch)
    assert [op.type for op in fused.graph.ops] == ["attention"] and fused.graph.meta["attention"]["fused"]
    ort = reference.run_onnxruntime(tmp_path / "att.onnx", xs, fused.graph)
    assert_close_to_ort(dict(ort=ort, c=y, numpy=y))


@pytest.mark.parametrize("img,fused", [(16, False), (32, True)])
def test_vit_attention_chosen_only_when_smaller(tmp_path, monkeypatch, img, fused):
    """17 tokens: the scores are not the peak, the chain stays; 65 tokens: the fused op lowers the arena, and its
    C equals the chain's bit for bit and onnxruntime within the float tolerance."""
    path = tiny_vit(tmp_path / "vit.onnx", 17, img=img)
    rng = np.random.default_rng(img)
    xs = [[rng.standard_normal((1, img, img, 3)).astype(F32)] for _ in range(3)]  # NHWC, as the C takes it
    auto, y_auto = _build(path, tmp_path / "auto", xs, "auto", monkeypatch)
    info = auto.graph.meta["attention"]
    assert info["chains"] == 2 and info["fused"] is fused
    assert (info["arena_fused"] < info["arena_unfused"]) is fused
    assert [op.type for op in auto.graph.ops].count("attention") == (2 if fused else 0)
    assert auto.plan.arena_bytes == (info["arena_fused"] if fused else info["arena_unfused"])
    other, y_other = _build(path, tmp_path / "other", xs, "unfused" if fused else "fused", monkeypatch)
    assert np.array_equal(_bits(y_auto), _bits(y_other))
    ort = reference.run_onnxruntime(path, xs, auto.graph)
    assert_close_to_ort(dict(ort=ort, c=y_auto, numpy=y_auto))


@pytest.mark.parametrize("scaled", [True, False])
def test_int8_attention_fused_is_bit_exact_with_tflm(tmp_path, monkeypatch, scaled):
    """Float ONNX softmax(Q K^T [* scale]) V quantized by edgec (--calib), the int8 chain forced into the fused op:
    its C equals TFLite Micro running the exported (unfused) model_int8.tflite at 0 LSB."""
    n, d = 12, 8
    nodes = [helper.make_node("MatMul", ["q", "kt"], ["s"])]
    if scaled:
        nodes.append(helper.make_node("Mul", ["scale", "s"], ["ss"]))  # the constant first: either order fuses
    nodes += [helper.make_node("Softmax", ["ss" if scaled else "s"], ["a"], axis=-1),
              helper.make_node("MatMul", ["a", "v"], ["y"])]
    onnx.save(model(nodes, {"q": [2, n, d], "kt": [2, d, n], "v": [2, n, d]}, {"y": [2, n, d]},
                    [const("scale", F32(d ** -0.5))] if scaled else []), tmp_path / "att.onnx")
    rng = np.random.default_rng(3)
    for name, count in (("calib", 32), ("test", 8)):
        np.savez(tmp_path / f"{name}.npz", q=rng.standard_normal((count, 2, n, d)).astype(F32),
                 kt=rng.standard_normal((count, 2, d, n)).astype(F32),
                 v=rng.standard_normal((count, 2, n, d)).astype(F32))
    monkeypatch.setattr(driver, "choose_attention", lambda g: attention.fuse_attention(g)[0])
    r = validate.test(tmp_path / "att.onnx", tmp_path / "out", inputs=tmp_path / "test.npz",
                      conversion=driver.Conversion(calib=tmp_path / "calib.npz"))
    assert [op.type for op in r.build.graph.ops] == ["attention"]
    t = r.build.report["test"]
    assert t["reference"].startswith("TFLM") and r.passed and t["max_abs_diff_lsb"] == 0, t
    assert t["rows"][1]["cosine"] > 0.99
    # and edgec's numpy reference of the fused op agrees with its C
    xs = [[np.asarray(x) for x in s] for s in [[rng.integers(-128, 128, (2, n, d), dtype=np.int8),
                                                 rng.integers(-128, 128, (2, d, n), dtype=np.int8),
                                                 rng.integers(-128, 128, (2, n, d), dtype=np.int8)]]]
    exe = host.build(r.build.out, r.build.sources, sanitize=True)
    c = validate.split_outputs(host.run(exe, xs), r.build.graph, 1)
    g = r.build.graph
    ours = reference.run_numpy(g, xs[0])[g.outputs[0]]
    assert np.array_equal(np.asarray(c[0][0]).reshape(-1), ours.reshape(-1))
