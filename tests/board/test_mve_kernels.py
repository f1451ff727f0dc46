"""The Helium (MVE) kernels in whole models on the emulated Cortex-M55 (mps3_an547), through validate.test (what
`edgec test --board` calls): bit-exact against TFLite Micro on seeded random samples, every layer of the Helium
kinds runs its *_mve kernel (report.json), and the M55 takes at most a third of the instructions the Cortex-M4
took with its DSP kernels before they gained int16 weight copies (the counts below, from that bench run), so a
Helium kernel that silently fell back or slowed down fails here. The M4's DSP kernels have since become faster:
the M55's ratio against them is in bench/results/speed.md and docs/kernels.md; this bound is a regression guard,
not that target. The kernels against the portable ones on random odd shapes:
tests/board/test_fast_kernels_harness.py.

Skipped (with the reason) only when arm-none-eabi-gcc / qemu-system-arm are not installed."""

from __future__ import annotations

import pytest
from test_cortexm import needs_tools

from edgec import validate

BOARD = "mps3_an547"
# model file, samples, the op types that must all run a Helium kernel, and the bound: at most a third of the
# instructions the Cortex-M4 (nucleo_l4r5zi) took with its earlier DSP kernels (see the docstring)
CASES = {
    "ad01": ("ad01_int8.tflite", 20, {"FULLY_CONNECTED"}, 483_848),
    "kws": ("kws_ref_model.tflite", 10, {"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"},
            5_420_164),
    "vww": ("vww_96_int8.tflite", 5, {"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"},
            12_275_201),
    "resnet": ("pretrainedResnet_quant.tflite", 5, {"FULLY_CONNECTED", "CONV_2D", "AVERAGE_POOL_2D", "ADD"},
               21_024_813),
}


@needs_tools
@pytest.mark.slow
@pytest.mark.parametrize("model", CASES)
def test_whole_model_with_helium_kernels(shared_models, tmp_path, model):
    path, n, helium_ops, m4_dsp = CASES[model]
    r = validate.test(shared_models / path, tmp_path / "out", BOARD, samples=n, seed=13)
    rep = r.build.report
    t = rep["test"]
    assert r.passed and r.samples == n and r.rows[0].reference == "TFLM", t
    assert r.rows[0].max_abs_diff_lsb == 0 and r.rows[0].mismatch_fraction == 0, t
    layers = [layer for layer in rep["layers"] if layer["op"] in helium_ops]
    assert layers and all(layer["kernel"].endswith("_mve") and "MVE" in layer["kernel_reason"] for layer in layers)
    assert 3 * t["instructions_per_inference"] <= m4_dsp, (t["instructions_per_inference"], m4_dsp)
    assert t["instruction_classes"] is None or t["instruction_classes"]["mve"] > 0
    print(f"\n{model} on {BOARD}: {t['instructions_per_inference']:,} instructions/inference, "
          f"{t['instructions_per_mac']:.3f}/MAC, 0 LSB on {n} samples")


@needs_tools
def test_max_pool_runs_its_helium_kernel(tmp_path):
    """A MAX_POOL_2D layer (the small conv net's 2x2/2 over 6 x 6 x 8) runs edgec_max_pool2d_s8_mve at 0 LSB against
    TFLM, in fewer instructions than the DSP max pool on the same core (--kernels dsp): counts, not times."""
    from small_models import conv_dw_pool_fc

    model = tmp_path / "net.tflite"
    model.write_bytes(conv_dw_pool_fc())
    counts = {}
    for kernels in ("auto", "dsp"):
        r = validate.test(model, tmp_path / kernels, BOARD, samples=5, seed=3, kernels=kernels)
        assert r.passed and r.rows[0].reference == "TFLM" and r.rows[0].max_abs_diff_lsb == 0
        rep = r.build.report
        (k,) = [i for i, layer in enumerate(rep["layers"]) if layer["op"] == "MAX_POOL_2D"]
        counts[kernels] = rep["test"]["layer_instructions"][k]["instructions"]
        assert rep["layers"][k]["kernel"] == ("edgec_max_pool2d_s8_mve" if kernels == "auto"
                                              else "edgec_max_pool2d_s8_dsp"), rep["layers"][k]
    assert counts["auto"] < counts["dsp"], counts
    print(f"\nmax pool on {BOARD}: {counts['auto']:,} instructions (MVE), {counts['dsp']:,} (DSP)")
