"""`edgec build --dump STAGE`: the IR after each stage as text, in the output folder or on stdout (docs/cli.md,
"--dump"). The dumps show what each stage did (the import's float ops, the fused activation, int8 after convert,
params after canonicalize, the arena buffers of the schedule), a build without --dump is unchanged by the option
existing, and a name that is not a stage is a usage error listing the stages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from run_cli import edgec
from small_models import patch_stage_net

from edgec.driver import STAGES
from edgec.modelbuilder import ModelBuilder
from edgec.outdir import MANIFEST

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits"


def ops_of(text: str) -> list[str]:
    """The op types of a dump, in order (`#k type 'name'` lines)."""
    return re.findall(r"^#\d+ (\w+) ", text, re.M)


def op_block(text: str, op_type: str) -> str:
    """The lines of the first op of `op_type` in a dump."""
    return re.search(rf"^#\d+ {op_type} .*?(?=^#|\Z)", text, re.M | re.S).group(0)


def test_dump_all_of_a_float_onnx_model(tmp_path):
    """Every stage of a float ONNX model quantized from calibration data: files dump/NN-STAGE.txt in the output
    folder (in its manifest), each showing its stage's work; the rest of the folder is byte for byte the build
    without --dump."""
    model, calib = DIGITS / "digits_cnn.onnx", DIGITS / "digits_calib.npz"
    res = edgec("build", model, "--calib", calib, "--dump", "all", "--out", tmp_path / "dumped")
    assert res.returncode == 0, res.stderr
    folder = tmp_path / "dumped"
    names = sorted(p.name for p in (folder / "dump").iterdir())
    assert names == [f"{k:02d}-{stage}.txt" for k, stage in enumerate(STAGES, 1)]
    manifest = json.loads((folder / MANIFEST).read_text())["files"]
    assert all(f"dump/{n}" in manifest for n in names)
    dump = {n.split("-", 1)[1][:-4]: (folder / "dump" / n).read_text() for n in names}

    # import: the ONNX graph as read, float32, its Relu a separate op
    imported = dump["import"]
    assert "relu" in ops_of(imported) and "conv2d" in ops_of(imported)
    assert re.search(r"^input  'image' \[1,8,8,1\] float32$", imported, re.M), imported[:400]
    assert "activation='NONE'" in op_block(imported, "conv2d")
    # simplify: the Relu fused into its conv (one op fewer per fused Relu), still float
    simplified = dump["simplify"]
    assert "relu" not in ops_of(simplified)
    assert len(ops_of(simplified)) == len(ops_of(imported)) - ops_of(imported).count("relu")
    assert "activation='RELU'" in op_block(simplified, "conv2d")
    assert "float32" in op_block(simplified, "conv2d")
    # convert: quantized, int8 activations with scale and zero point, int8 weights, int32 biases; no params yet
    converted = dump["convert"]
    assert re.search(r"^input  'image' \[1,8,8,1\] int8 s=[\d.e-]+ zp=-?\d+$", converted, re.M), converted[:400]
    conv = op_block(converted, "conv2d")
    assert "float32" not in conv and re.search(r"\[8,3,3,1\] int8 s\[8\]=", conv) and "int32" in conv
    assert "params" not in converted
    # canonicalize: every int8 conv has its prepared fixed-point params
    canonical = dump["canonicalize"]
    assert re.search(r"^    params multiplier=\[\d", op_block(canonical, "conv2d"), re.M)
    assert sorted(ops_of(dump["reorder"])) == sorted(ops_of(canonical))
    # schedule: the chosen plan as report.json tells it
    report = json.loads((folder / "report.json").read_text())
    schedule = dump["schedule"]
    assert f"arena {report['arena_bytes']:,} B" in schedule
    assert f"schedule: {report['schedule_reason']}" in schedule
    buffers = json.loads((folder / "plan.json").read_text())["buffers"]
    lines = re.findall(r"^  offset +([\d,]+)  size +([\d,]+) B  steps (\d+)\.\.(\d+)", schedule, re.M)
    assert sorted((int(o.replace(",", "")), int(s.replace(",", "")), int(a), int(b)) for o, s, a, b in lines) == \
        sorted((b["offset"], b["size"], b["first_use"], b["last_use"]) for b in buffers)

    # without --dump: the same files, byte for byte, and no dump folder
    res = edgec("build", model, "--calib", calib, "--out", tmp_path / "plain")
    assert res.returncode == 0, res.stderr
    plain = tmp_path / "plain"
    assert not (plain / "dump").exists()
    files = sorted(p.relative_to(plain).as_posix() for p in plain.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                           if p.is_file() and p.parent.name != "dump")
    for f in files:
        if f != MANIFEST:
            assert (plain / f).read_bytes() == (folder / f).read_bytes(), f
    assert {k: v for k, v in manifest.items() if not k.startswith("dump/")} == \
        json.loads((plain / MANIFEST).read_text())["files"]


def relu_after_fc(name: str = "hidden") -> bytes:
    """x[1,8] -> FULLY_CONNECTED (no fused activation) -> RELU (same quantization) -> y[1,4], int8."""
    rng = np.random.default_rng(0)
    b = ModelBuilder()
    x = b.input("x", (1, 8), scale=0.05, zero_point=3)
    w = b.const("fc_w", rng.integers(-127, 128, size=(4, 8), dtype=np.int8), scale=0.01, zero_point=0)
    bias = b.const("fc_b", rng.integers(-100, 100, size=4).astype(np.int32), scale=0.0005, zero_point=0)
    h = b.activation(name, (1, 4), scale=0.04, zero_point=-5)
    b.op("FULLY_CONNECTED", [x, w, bias], [h], "FullyConnectedOptions", fusedActivationFunction=0)
    y = b.activation("y", (1, 4), scale=0.04, zero_point=-5)
    b.op("RELU", [h], [y])
    b.output(y)
    return b.build()


def test_dump_to_stdout_shows_the_int8_relu_fused(tmp_path):
    """An int8 RELU after a FULLY_CONNECTED of the same quantization becomes the FC's activation; --dump-to -
    writes the dumps asked for on stdout, in stage order, and none in the output folder."""
    path = tmp_path / "m.tflite"
    path.write_bytes(relu_after_fc())
    res = edgec("build", path, "--dump", "simplify,import", "--dump-to", "-", "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    parts = re.split(r"^(?=; edgec IR after )", res.stdout, flags=re.M)[1:]
    assert [p.split(":")[0] for p in parts] == ["; edgec IR after import", "; edgec IR after simplify"]
    imported, simplified = parts
    assert ops_of(imported) == ["fully_connected", "relu"] and ops_of(simplified) == ["fully_connected"]
    assert "activation='NONE'" in imported and "activation='RELU'" in simplified
    assert "out 'y' [1,4] int8 s=0.04 zp=-5" in simplified and "'hidden'" not in simplified
    assert "fc_w' [4,8] int8 s=0.01 zp=0 const 32 B" in imported  # a constant summarized, not dumped
    assert not (tmp_path / "out" / "dump").exists()


def test_dump_of_a_patched_schedule(tmp_path):
    """The schedule of a --patch build names the patch stage, its grid and each patch's input rows and columns."""
    path = tmp_path / "p.tflite"
    path.write_bytes(patch_stage_net())
    res = edgec("build", path, "--patch", "--dump", "schedule", "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    text = (tmp_path / "out" / "dump" / f"{STAGES.index('schedule') + 1:02d}-schedule.txt").read_text()
    grid = report["patch"]["grid"]
    assert f"grid {grid[0]}x{grid[1]} ({grid[0] * grid[1]} patches)" in text
    assert len(re.findall(r"^  patch \d+ reads rows \d+\.\.\d+, columns \d+\.\.\d+ of the stage input$", text,
                          re.M)) == grid[0] * grid[1]
    assert "layer by layer (not chosen): arena" in text


def test_dump_names_from_the_model_are_displayed_not_raw(tmp_path):
    """A tensor name holding a terminal escape and a newline is printed as \\xNN: one line per tensor."""
    path = tmp_path / "m.tflite"
    path.write_bytes(relu_after_fc("evil\x1b[31m\nname"))
    res = edgec("build", path, "--dump", "import", "--dump-to", "-", "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert "'evil\\x1b[31m\\x0aname'" in res.stdout
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", res.stdout)


def usage_error(res, *needles: str) -> None:
    """Exit 2, click's one `Error:` line naming every needle, nothing on stdout, no traceback."""
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("Error:") == 1 and "Traceback" not in res.stderr and res.stdout == "", res.stderr
    for needle in needles:
        assert needle in res.stderr, res.stderr


def test_dump_refuses_what_is_not_a_stage(tmp_path):
    """A name that is not a stage lists the stages (exit 2); --dump-to without --dump, or stdout claimed by both
    --dump-to - and --json, is a usage error too; nothing is built."""
    path = tmp_path / "m.tflite"
    path.write_bytes(relu_after_fc())
    for value in ("codegen", "import,bogus", ","):
        usage_error(edgec("build", path, "--dump", value, "--out", tmp_path / "out"), "--dump",
                    ", ".join(STAGES))
    usage_error(edgec("build", path, "--dump-to", "-", "--out", tmp_path / "out"), "--dump STAGE")
    res = edgec("build", path, "--dump", "all", "--dump-to", "-", "--json", "--out", tmp_path / "out")
    assert res.returncode == 2 and json.loads(res.stdout)["error"]["exit_code"] == 2
    assert "--json" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()
    shown = " ".join(edgec("build", "--help").stdout.split())  # the help names the stages the driver runs
    assert ", ".join(STAGES) + "." in shown, shown
