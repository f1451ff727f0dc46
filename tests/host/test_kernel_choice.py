"""The kernel choice through the real CLI (toolchain/kernels.py): report.json names every layer's kernel and why;
the host runs its own vectorizable kernels (runtime/*_host.c), a Cortex-M core with DSP its DSP kernels, and
`--kernels portable` the portable C kernels everywhere, the same C on every target (the tests of each fast kernel
check 0 LSB against the portable kernel and TFLM)."""

from __future__ import annotations

import json

import pytest
from run_cli import edgec
from small_models import conv_dw_pool_fc

from edgec import cortexm


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "net.tflite"
    path.write_bytes(conv_dw_pool_fc())
    return path


def _layers(res) -> list[dict]:
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["layers"]


def test_host_layers_run_the_host_kernels(model, tmp_path):
    layers = _layers(edgec("build", model, "--out", tmp_path / "out", "--json"))
    assert all(layer["kernel"] is None or not layer["kernel"].endswith("_dsp") for layer in layers)
    kernels = {layer["kernel"]: layer["kernel_reason"] for layer in layers if layer["kernel"]}
    for name in ("edgec_conv2d_s8_host", "edgec_depthwise_conv2d_s8_host", "edgec_fully_connected_s8_host"):
        assert kernels.get(name, "").startswith("host: "), kernels
    # pooling has no host kernel: the portable one, and the report says why
    portable = [why for name, why in kernels.items() if not name.endswith("_host")]
    assert portable and all(why.startswith("host: no host kernel") for why in portable), kernels
    assert (tmp_path / "out" / "runtime" / "edgec_host.h").exists()
    assert not (tmp_path / "out" / "runtime" / "edgec_acle.h").exists()


@pytest.mark.skipif(cortexm.toolchain_available() is not None, reason="needs arm-none-eabi-gcc")
def test_portable_flag_on_a_dsp_core(model, tmp_path):
    """--kernels portable on a Cortex-M4: every layer says so, and the C is the host's --kernels portable C"""
    layers = _layers(edgec("build", model, "--board", "nucleo_l4r5zi", "--kernels", "portable",
                           "--out", tmp_path / "m4", "--json"))
    assert all(layer["kernel_reason"] == "--kernels portable" for layer in layers if layer["kernel"]), layers
    assert _layers(edgec("build", model, "--kernels", "portable", "--out", tmp_path / "host", "--json"))
    assert (tmp_path / "m4" / "model.c").read_bytes() == (tmp_path / "host" / "model.c").read_bytes()


def test_unknown_kernels_mode_is_a_usage_error(model, tmp_path):
    res = edgec("build", model, "--kernels", "fastest", "--out", tmp_path / "out")
    assert res.returncode == 2 and "'fastest' is not one of 'auto', 'portable', 'dsp'" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "out").exists()


@pytest.mark.skipif(cortexm.toolchain_available() is not None, reason="needs arm-none-eabi-gcc")
def test_helium_kernels_only_on_the_mve_core(model, tmp_path):
    """The Cortex-M55 (mps3_an547, MVE) gets the *_mve kernels and edgec_mve.h; the M4 keeps its DSP kernels and
    no Helium file is copied there"""
    m55 = _layers(edgec("build", model, "--board", "mps3_an547", "--out", tmp_path / "m55", "--json"))
    m4 = _layers(edgec("build", model, "--board", "nucleo_l4r5zi", "--out", tmp_path / "m4", "--json"))
    fc55 = next(layer for layer in m55 if layer["op"] == "FULLY_CONNECTED")
    assert fc55["kernel"] == "edgec_fully_connected_s8_mve", fc55
    assert "MVE: 4 output rows x 16 inputs per VMLADAVA.S8 step" in fc55["kernel_reason"], fc55
    assert (tmp_path / "m55" / "runtime" / "edgec_mve.h").exists()
    assert all(layer["kernel"] is None or not layer["kernel"].endswith("_mve") for layer in m4), m4
    assert not list((tmp_path / "m4" / "runtime").glob("*mve*"))
    # --kernels dsp: the M55 as if it had no Helium, the M4's choice exactly
    dsp = _layers(edgec("build", model, "--board", "mps3_an547", "--kernels", "dsp", "--out", tmp_path / "dsp",
                        "--json"))
    assert [layer["kernel"] for layer in dsp] == [layer["kernel"] for layer in m4], dsp
    assert not list((tmp_path / "dsp" / "runtime").glob("*mve*"))


def test_int16_weight_copies_only_where_the_flash_has_room():
    """The DSP convs' and FCs' int16 weights (toolchain/kernels.py, conv_weights16_fit): kept for kws on a 2 MB
    Cortex-M4, refused for vww_96_int8 (219 KB of constants, 197 KB of them DSP conv and FC weights: 613 KB with the
    copy, more than half of a 512 KB flash) on the NUCLEO-F411RE and on a core without DSP; the generated C then
    passes NULL (the int8 path)."""
    from pathlib import Path

    from edgec import driver
    from edgec.board import get_board
    from edgec.kernels import kernel_target, select_kernels

    models = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf-tiny"
    kws = driver.compile_model(models / "kws_ref_model.tflite").graph
    vww = driver.compile_model(models / "vww_96_int8.tflite").graph
    fits = {}
    for name, g in (("kws", kws), ("vww", vww)):
        for board in ("nucleo_l4r5zi", "nucleo_f411re", "mps2_an385"):
            select_kernels(g, kernel_target(get_board(board)))
            fits[name, board] = g.meta["kernels"]["conv_weights16"]
    assert fits == {("kws", "nucleo_l4r5zi"): True, ("kws", "nucleo_f411re"): True, ("kws", "mps2_an385"): False,
                    ("vww", "nucleo_l4r5zi"): True, ("vww", "nucleo_f411re"): False, ("vww", "mps2_an385"): False}


# vww_96_int8's and kws_ref_model's 3x3 depthwise layers: (in_h, in_w, C, out_h, out_w, stride, pad_top/left),
# instructions measured on the emulated M4 (`edgec test --board nucleo_l4r5zi`, report.json layer_instructions):
# the plane kernel's (bench/results/speed.md before the channels-last kernel) and, where it ran, the
# channels-last kernel's
DW_MEASURED = [
    ((48, 48, 8, 48, 48, 1, 1), 363_114, None),
    ((48, 48, 16, 24, 24, 2, 0), 337_018, 243_381),
    ((24, 24, 32, 24, 24, 1, 1), 385_839, None),
    ((24, 24, 32, 12, 12, 2, 0), 188_836, 118_388),
    ((12, 12, 64, 12, 12, 1, 1), 221_423, None),
    ((12, 12, 64, 6, 6, 2, 0), 119_271, 56_899),
    ((6, 6, 128, 6, 6, 1, 1), 134_645, 104_722),
    ((6, 6, 128, 3, 3, 2, 0), 78_128, 26_470),
    ((3, 3, 256, 3, 3, 1, 1), 118_035, 45_045),
    ((25, 5, 64, 25, 5, 1, 1), 189_038, None),
]


def test_the_depthwise_cost_counts_choose_the_faster_measured_kernel():
    """depthwise_conv2d.dw_cost_cl and dw_cost_plane (the counts the compiler compares to pick the channels-last
    or the plane kernel) against the measured counts: the channels-last count within 5 %, the plane count within
    26 % (it leaves out some per-call costs: 3 x 3 x 256 is the farthest), and the choice the faster kernel on every
    layer where both ran; the planes keep vww's stride-1 layers down to 12 x 12 and kws's."""
    from edgec.ops.depthwise_conv2d import dw_cost_cl, dw_cost_plane

    for (ih, iw, c, oh, ow, s, pad), plane, cl in DW_MEASURED:
        geo = (ih, iw, c, oh, ow, s, s, pad, pad)
        counted_cl, counted_plane = dw_cost_cl(*geo), dw_cost_plane(*geo)
        assert abs(counted_plane - plane) <= 0.26 * plane, (geo, counted_plane, plane)
        if cl is not None:
            assert abs(counted_cl - cl) <= 0.05 * cl, (geo, counted_cl, cl)
            assert counted_cl < counted_plane and cl < plane, geo
        else:
            assert counted_plane < counted_cl, geo
