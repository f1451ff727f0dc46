"""The facts every operator declares (ops/base.py: fuses_activation, patch_kind, quantization, not_exportable /
export_tflite, backward): each registered op declares all of them, a gap is detected, the template is complete
and registers nothing, and the facts agree with what the models and kernels do where that is cheap to see.
(Each op's export round trip runs in its own test: oneop.run_three_ways exports every one-op model back.)"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import small_models
from oneop import assert_exports_back

from edgec.errors import UnsupportedError
from edgec.exporters import write_tflite
from edgec.importers import import_model
from edgec.ir import Graph, Op, Tensor
from edgec.ops import REGISTRY
from edgec.ops.base import FACTS, UNDECLARED, Operator, Quantization, fused_activation_supported, missing_facts
from edgec.ops.window import out_size
from edgec.passes import canonicalize
from edgec.patch import region_kind

MLPERF_INT8 = ("kws_ref_model.tflite", "vww_96_int8.tflite", "pretrainedResnet_quant.tflite", "ad01_int8.tflite")


@pytest.mark.parametrize("op_type", sorted(REGISTRY))
def test_every_registered_op_declares_every_fact(op_type):
    assert missing_facts(REGISTRY[op_type]) == []


def test_a_missing_fact_is_detected():
    class Partial(Operator):  # not registered: a new op's module half written
        type = "partial"
        fuses_activation = False
        patch_kind = "window"  # without window_size()
        not_exportable = None  # without export_tflite()

    gaps = missing_facts(Partial())
    assert {name for name in FACTS if any(f"`{name}`" in gap for gap in gaps)} == {"quantization", "backward"}
    assert any("export_tflite is not defined" in gap for gap in gaps)
    assert any("needs window_size()" in gap for gap in gaps)
    with pytest.raises(TypeError, match="UNDECLARED"):
        bool(Partial().quantization)  # an undeclared fact read as a truth value fails, never a silent False
    assert Operator.backward is UNDECLARED


def test_template_is_complete_and_registers_nothing():
    template = importlib.import_module("edgec.ops._template")
    assert template.Neg.type not in REGISTRY  # the loader skips it and it has no @register
    assert missing_facts(template.Neg()) == []


def _int8_models(shared_models, tmp_path) -> list[Graph]:
    """The MLPerf Tiny int8 models and two small ones (max pooling, a patch stage), as imported."""
    graphs = [import_model(shared_models / name) for name in MLPERF_INT8]
    for make in (small_models.conv_dw_pool_fc, small_models.patch_stage_net):
        path = tmp_path / f"{make.__name__}.tflite"
        path.write_bytes(make())
        graphs.append(import_model(path))
    return graphs


def test_quantization_facts_agree_with_tflite_converted_models(shared_models, tmp_path):
    """In the int8 models TFLite's converter made, every op's declared rule holds: weights are constants quantized
    per channel on the declared axis (one scale per output channel), a same_as_input op's output has its input's
    quantization, a fixed one has exactly the declared (scale, zero point)."""
    seen = {"weight_axis": 0, "same_as_input": 0, "fixed": 0}
    for g in _int8_models(shared_models, tmp_path):
        for op in g.ops:
            rule = REGISTRY[op.type].quantization_for(op)
            x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
            if rule.weight_axis is not None:
                w = g.t(op.inputs[1])
                assert w.is_const and w.quant is not None, f"{op.type}: weights not a quantized constant"
                assert w.shape[rule.weight_axis] == y.shape[-1], f"{op.type}: axis {rule.weight_axis} != channels"
                if w.quant.scale.size > 1:
                    assert w.quant.axis == rule.weight_axis, f"{op.type}: per-channel axis {w.quant.axis}"
                seen["weight_axis"] += 1
            if rule.output == "same_as_input":
                assert x.quant is not None and y.quant is not None
                np.testing.assert_array_equal(y.quant.scale, x.quant.scale, err_msg=op.type)
                np.testing.assert_array_equal(y.quant.zero_point, x.quant.zero_point, err_msg=op.type)
                seen["same_as_input"] += 1
            if rule.output == "fixed":
                assert rule.fixed is not None and y.quant is not None
                assert (float(y.quant.scale[0]), int(y.quant.zero_point[0])) == (
                    float(np.float32(rule.fixed[0])), rule.fixed[1]), op.type
                seen["fixed"] += 1
    assert all(seen.values()), seen  # every kind of rule was checked on some op


def test_window_and_patch_facts_agree_with_the_ops(shared_models, tmp_path):
    """A "window" op's window_size gives its output size from its input by the sliding-window rule, and
    region_kind (which adds the shape conditions) only ever answers an op's declared patch_kind."""
    windows = patched = 0
    for g in _int8_models(shared_models, tmp_path):
        g = canonicalize(g)
        for op in g.ops:
            impl = REGISTRY[op.type]
            kind = region_kind(op, g)
            assert kind in (None, impl.patch_kind), f"{op.type}: region {kind}, declared {impl.patch_kind}"
            patched += kind is not None
            if impl.patch_kind == "window":
                kh, kw, dh, dw = impl.window_size(op, g)
                x, y, a = g.t(op.inputs[0]), g.t(op.outputs[0]), op.attrs
                assert out_size(a["padding"], x.shape[1], kh, a["stride_h"], dh) == y.shape[1], op.type
                assert out_size(a["padding"], x.shape[2], kw, a["stride_w"], dw) == y.shape[2], op.type
                windows += 1
    assert windows and patched


@pytest.mark.parametrize("op_type", sorted(t for t, impl in REGISTRY.items() if impl.fuses_activation))
def test_an_op_that_fuses_activations_has_a_clamping_kernel(op_type):
    """fuse_activations gives the op an `activation`: its rules must accept the fused kinds (its kernel clamps)."""
    assert fused_activation_supported in REGISTRY[op_type].constraints


def test_tflite_converted_models_export_back_to_the_same_ir(shared_models, tmp_path):
    for k, name in enumerate(MLPERF_INT8):
        assert_exports_back(shared_models / name, tmp_path / f"{k}.tflite")


@pytest.mark.parametrize("op_type", sorted(t for t, impl in REGISTRY.items() if impl.not_exportable is not None))
def test_a_not_exportable_op_is_refused_with_its_reason(op_type, tmp_path):
    tensors = {n: Tensor(n, (1, 4), "float32") for n in ("x", "y")}
    g = Graph(name="one", tensors=tensors, ops=[Op(op_type, "op_0", ["x"], ["y"], {})], inputs=["x"], outputs=["y"])
    with pytest.raises(UnsupportedError) as e:
        write_tflite(g, tmp_path / "m.tflite")
    assert e.value.problems == [f"op_0: IR op {op_type} has no .tflite writer ({REGISTRY[op_type].not_exportable})"]


def test_quantization_rule_is_consistent():
    with pytest.raises(ValueError, match="goes with output='fixed'"):
        Quantization(output="fixed")  # a fixed output without its (scale, zero point)
    with pytest.raises(ValueError, match="goes with output='fixed'"):
        Quantization(output="calibrated", fixed=(1.0 / 256, -128))
