"""edgec train on every emulated core with an FPU: the firmware's training steps equal the numpy reference bit for
bit (the command checks its first steps and fails otherwise), and the board figures are measured."""

from __future__ import annotations

import json

import numpy as np
import pytest
from run_cli import edgec
from small_models import patch_stage_net


@pytest.mark.parametrize("board, core", [("nucleo_l4r5zi", "M4"), ("nucleo_f746zg", "M7"),
                                         ("nucleo_u575zi", "M33"), ("mps3_an547", "M55")])
def test_training_steps_on_the_emulated_board_equal_numpy(tmp_path, board, core):
    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "d.npz", x=rng.uniform(-0.06, 0.06, (5, 1, 32, 32, 3)).astype(np.float32),
             labels=np.arange(5) % 3)
    res = edgec("train", model, "--data", tmp_path / "d.npz", "--eval", tmp_path / "d.npz", "--scheme", "last:2",
                "--classes", "3", "--lr", "0.05", "--rounding", "stochastic", "--board", board, "--out",
                tmp_path / "o", "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    t = json.loads(res.stdout)["training"]
    assert t["numpy_check"] == {"steps": 5, "passed": True, "failure": None}, core
    assert t["instructions_per_step"] > t["instructions_forward"] > 0 and t["instructions_backward"] > 0
    layers = t["layer_instructions"]
    assert any(r["op"] == "conv2d_backward" and r["instructions"] > 0 for r in layers)
    assert t["peak_sram_bytes"] >= t["memory"]["total_bytes"]  # statics + arena + stack >= arena + parameters


@pytest.mark.parametrize("options", [["--momentum", "0.9"], ["--weights", "shadow", "--momentum", "0.5"]],
                         ids=["momentum", "shadow-momentum"])
def test_optimizer_state_on_the_emulated_m7_equals_numpy(tmp_path, options):
    """Momentum velocities (stochastic rounding) and fp32 shadow weights on the emulated Cortex-M7: every checked
    step equal to the numpy reference bit for bit, the state counted in the parameters."""
    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "d.npz", x=rng.uniform(-0.06, 0.06, (5, 1, 32, 32, 3)).astype(np.float32),
             labels=np.arange(5) % 3)
    res = edgec("train", model, "--data", tmp_path / "d.npz", "--scheme", "last:2", "--classes", "3", "--lr", "0.05",
                *options, "--board", "nucleo_f746zg", "--out", tmp_path / "o", "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    t = json.loads(res.stdout)["training"]
    assert t["numpy_check"] == {"steps": 5, "passed": True, "failure": None}
    assert t["optimizer_state_bytes"] > 0 and t["weights"] == ("shadow" if "shadow" in options else "int8")


def test_partial_conv_slice_in_sram_on_the_emulated_m7_equals_numpy(tmp_path):
    """A conv trained over 5 of its 16 input channels keeps only that slice in SRAM (the frozen rest is const, in
    flash): on the emulated Cortex-M7 every checked step equals the numpy reference bit for bit, the trained
    parameters count the slice only, and weights.c holds the frozen rest as a const array (docs/training.md,
    "Only the trained slice in SRAM")."""
    from edgec.driver import compile_model

    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    convs = [op for op in compile_model(model, "nucleo_f746zg", patch=False).graph.ops if op.type == "conv2d"]
    pw = convs[-1]
    (tmp_path / "s.toml").write_text(f'[layers."{pw.name}"]\nchannels = 5\nbias = true\n')
    rng = np.random.default_rng(4)
    np.savez(tmp_path / "d.npz", x=rng.uniform(-0.06, 0.06, (5, 1, 32, 32, 3)).astype(np.float32),
             labels=np.arange(5) % 3)
    res = edgec("train", model, "--data", tmp_path / "d.npz", "--scheme", tmp_path / "s.toml", "--classes", "3",
                "--lr", "0.05", "--board", "nucleo_f746zg", "--out", tmp_path / "o", "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    t = json.loads(res.stdout)["training"]
    assert t["numpy_check"] == {"steps": 5, "passed": True, "failure": None}
    shapes = t["trained_parameters"]
    w_name = next(n for n in shapes if len(shapes[n]) == 4)
    out_c, k_h, k_w, in_c = shapes[w_name]
    assert in_c == 16
    head_and_bias = sum(4 * int(np.prod(s)) for n, s in shapes.items() if n != w_name)
    assert t["trained_parameter_bytes"] == head_and_bias + out_c * k_h * k_w * 5  # the slice, not the tensor
    weights_c = (tmp_path / "o" / "weights.c").read_text()
    assert f"_frozen[{out_c * k_h * k_w * 11}] = " in weights_c
    tricks = t["memory_tricks"]
    assert tricks["sliced_parameters"] == [w_name] and tricks["frozen_in_flash_bytes"] == out_c * k_h * k_w * 11


def test_fp16_gradients_on_the_emulated_m7_equal_numpy(tmp_path):
    """--gradients fp16 on the emulated Cortex-M7 (arm-none-eabi-gcc, -Werror): every checked step equals the numpy
    reference bit for bit, the gradients are stored as half (it lowers this step's arena, so the command keeps it)
    and the arena is smaller than with float32 gradients (docs/training.md, "fp16 gradients")."""
    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "d.npz", x=rng.uniform(-0.06, 0.06, (5, 1, 32, 32, 3)).astype(np.float32),
             labels=np.arange(5) % 3)
    runs = {}
    for grads in ("fp16", "float32"):
        res = edgec("train", model, "--data", tmp_path / "d.npz", "--scheme", "bias", "--classes", "3", "--lr",
                    "0.05", "--gradients", grads, "--board", "nucleo_f746zg", "--out", tmp_path / grads, "--json",
                    timeout=600)
        assert res.returncode == 0, res.stderr
        runs[grads] = json.loads(res.stdout)["training"]
    t = runs["fp16"]
    assert t["numpy_check"] == {"steps": 5, "passed": True, "failure": None}
    assert t["gradients"] == "fp16" and t["memory_tricks"]["fp16_gradients"] > 0
    assert t["memory"]["arena_bytes"] < runs["float32"]["memory"]["arena_bytes"]
    assert runs["float32"]["gradients"] == "float32" and runs["float32"]["memory_tricks"]["fp16_gradients"] == 0
    assert "edgec_conv2d_s8_backward_f16(" in (tmp_path / "fp16" / "model.c").read_text()
