"""The output folder through the real CLI (docs/cli.md, "Safety of your files"): edgec replaces a folder only when it
holds exactly the files of its manifest; every other case exits 2 with one message and leaves every file as it was;
an interrupted build leaves no staging litter; two builds of the same model are byte-identical."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MODELS
from run_cli import assert_error, edgec
from small_models import fc_only, patch_stage_net

from edgec import cortexm
from edgec.outdir import MANIFEST

NO_CROSS_TOOLCHAIN = cortexm.toolchain_available()  # None when arm-none-eabi-gcc and qemu-system-arm are there
BOARD = "nucleo_f746zg"  # no emulator: `build` links its firmware.elf
EMULATED_BOARD = "mps2_an386"


def tree(root: Path) -> dict[str, object]:
    """Every entry under root (hidden ones too, links not followed): relative path -> bytes, link target or 'dir'."""
    found: dict[str, object] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            found[rel] = (f"-> {os.readlink(p)}" if p.is_symlink() else "dir" if p.is_dir() else p.read_bytes())
    return found


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "fc.tflite"
    path.write_bytes(fc_only())
    return path


def built(model: Path, out: Path, *args, cwd: Path | None = None) -> Path:
    res = edgec("build", model, "--out", out, *args, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return out


def manifest_files(out: Path) -> set[str]:
    return set(json.loads((out / MANIFEST).read_text())["files"])


def assert_refused(model: Path, out: str | Path, root: Path, *needles: str, cwd: Path | None = None) -> str:
    """`edgec build --out out` exits 2 naming the needles, and nothing under root changed."""
    before = tree(root)
    msg = assert_error(edgec("build", model, "--out", out, cwd=cwd), 2, *needles)
    assert tree(root) == before
    return msg


# ------------------------------------------------------------------------------------------ what may be replaced

def test_a_fresh_folder_lists_every_file_in_its_manifest(model: Path, tmp_path: Path):
    out = built(model, tmp_path / "build" / "fc")
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {MANIFEST}
    assert manifest_files(out) == files
    assert {"model.c", "weights.c", "report.json", "runtime/fully_connected_s8.c"} <= files
    data = json.loads((out / MANIFEST).read_text())
    assert data["edgec_version"] and set(data["files"]["model.c"]) == {"sha256", "size"}
    assert not [p for p in (tmp_path / "build").iterdir() if p.name != "fc"]  # no staging litter


def test_rebuild_after_test_and_html_report(model: Path, tmp_path: Path):
    """edgec test (harness, traced build, report.json) and report --html add files: the manifest follows, so the
    folder can still be rebuilt, and the rebuild is the fresh build again."""
    out = built(model, tmp_path / "fc")
    fresh = tree(out)
    res = edgec("test", model, "--out", out, "--samples", "2", "--layers")
    assert res.returncode == 0, res.stderr
    assert edgec("report", out, "--html").returncode == 0
    assert {"model", "model_trace", "report.html"} <= manifest_files(out)
    assert manifest_files(out) == {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {MANIFEST}
    built(model, out)
    assert tree(out) == fresh


@pytest.mark.skipif(NO_CROSS_TOOLCHAIN is not None, reason=f"{NO_CROSS_TOOLCHAIN}")
def test_rebuild_after_board_test_and_flash_emulate(model: Path, tmp_path: Path):
    out = built(model, tmp_path / "fc", "--board", EMULATED_BOARD)
    fresh = tree(out)
    res = edgec("test", model, "--out", out, "--board", EMULATED_BOARD, "--samples", "1")
    assert res.returncode == 0, res.stderr
    res = edgec("flash", out, "--board", EMULATED_BOARD, "--emulate")
    assert res.returncode == 0, res.stderr
    assert "firmware_emulated.elf" in manifest_files(out)
    built(model, out, "--board", EMULATED_BOARD)
    assert tree(out) == fresh


def test_foreign_report_json_and_user_files(model: Path, tmp_path: Path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "report.json").write_text('{"mine": true}\n')
    (out / "notes.txt").write_text("my notes\n")
    msg = assert_refused(model, out, tmp_path, str(out), "no manifest", "notes.txt", "report.json")
    assert "nothing was changed" in msg


def test_user_added_a_file_to_an_edgec_folder(model: Path, tmp_path: Path):
    out = built(model, tmp_path / "fc")
    (out / "runtime" / "my_kernel.c").write_text("int x;\n")
    (out / "data").mkdir()
    assert_refused(model, out, tmp_path, "unexpected: data/, runtime/my_kernel.c")


def test_modified_and_missing_files(model: Path, tmp_path: Path):
    out = built(model, tmp_path / "fc")
    with (out / "model.c").open("a") as f:
        f.write("/* my fix */\n")
    (out / "weights.h").unlink()
    assert_refused(model, out, tmp_path, "modified: model.c", "missing: weights.h")


def test_unreadable_manifest(model: Path, tmp_path: Path):
    out = built(model, tmp_path / "fc")
    (out / MANIFEST).write_text("{not json")
    assert_refused(model, out, tmp_path, "unreadable manifest", "model.c")


def test_long_lists_end_with_and_n_more(model: Path, tmp_path: Path):
    out = tmp_path / "photos"
    out.mkdir()
    for k in range(12):
        (out / f"img{k:02d}.jpg").write_bytes(b"\xff\xd8")
    msg = assert_refused(model, out, tmp_path, "img00.jpg, img01.jpg, img02.jpg, img03.jpg, img04.jpg and 7 more")
    assert "img05.jpg" not in msg


def test_rebuild_of_a_pure_edgec_folder(model: Path, tmp_path: Path):
    out = built(model, tmp_path / "fc")
    res = edgec("build", model, "--out", out, "--patch")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fc", "fc.tflite"]


def test_empty_folder_is_used(model: Path, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    assert (built(model, tmp_path / "empty") / "model.c").is_file()


# ------------------------------------------------------------------------------------------------- --out .

def test_out_dot_with_report_json_and_user_files(model: Path, tmp_path: Path):
    here = tmp_path / "project"
    here.mkdir()
    (here / "report.json").write_text("{}\n")
    (here / "train.py").write_text("print('mine')\n")
    assert_refused(model, ".", tmp_path, "train.py", "no manifest", cwd=here)


def test_out_dot_builds_and_rebuilds_the_current_folder(model: Path, tmp_path: Path):
    """An empty or pure edgec current folder is used: its entries are swapped, the folder itself stays."""
    here = tmp_path / "fc"
    here.mkdir()
    built(model, Path("."), cwd=here)
    first = tree(here)
    assert "model.c" in first
    built(model, Path("."), "--patch", cwd=here)
    built(model, Path("."), cwd=here)
    assert tree(here) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fc", "fc.tflite"]  # nothing left beside it
    (here / "mine.txt").write_text("x")
    assert_refused(model, ".", tmp_path, "unexpected: mine.txt", cwd=here)


def test_out_containing_the_current_folder(model: Path, tmp_path: Path):
    out = built(model, tmp_path / "fc")
    assert_refused(model, "..", tmp_path, "contains the current folder", cwd=out / "runtime")


# ------------------------------------------------------------------------------------------------- path cases

def test_out_through_a_file(model: Path, tmp_path: Path):
    (tmp_path / "file.txt").write_text("mine\n")
    assert_refused(model, tmp_path / "file.txt" / "sub", tmp_path, "file.txt is not a folder")


def test_out_is_a_file(model: Path, tmp_path: Path):
    (tmp_path / "file.txt").write_text("mine\n")
    assert_refused(model, tmp_path / "file.txt", tmp_path, "is a file, not a folder")


def test_dangling_symlink(model: Path, tmp_path: Path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    assert_refused(model, tmp_path / "link", tmp_path, "link is a symbolic link")


def test_symlink_to_a_folder(model: Path, tmp_path: Path):
    """Even to an edgec folder: edgec replaces neither the link nor what it points to."""
    real = built(model, tmp_path / "real")
    (tmp_path / "link").symlink_to(real)
    assert_refused(model, tmp_path / "link", tmp_path, "link is a symbolic link")


def test_name_too_long(model: Path, tmp_path: Path):
    assert_refused(model, tmp_path / ("n" * 300), tmp_path, "300 bytes long", "allows 255")


def test_unwritable_parent(model: Path, tmp_path: Path):
    """chmod does not stop root: as root the folder is under /sys, where even root cannot create one."""
    if os.geteuid() == 0:
        if not Path("/sys/kernel").is_dir():
            pytest.skip("running as root without /sys: no folder is unwritable for root here")
        out = Path("/sys/edgec-test/fc")
        assert_error(edgec("build", model, "--out", out), 2, "cannot write the output folder", str(out))
        assert not out.parent.exists()
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert_refused(model, locked / "fc", tmp_path, "cannot write the output folder", "permission denied")
    finally:
        locked.chmod(0o700)


def test_failed_build_leaves_no_parent_folders(tmp_path: Path):
    """A build that fails (here: not a model) removes the parent folders it created for --out."""
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    before = tree(tmp_path)
    res = edgec("build", bad, "--out", tmp_path / "a" / "b" / "out")
    assert res.returncode == 2, res.stderr
    assert tree(tmp_path) == before


# --------------------------------------------------------------------------------------------- interruptions

@pytest.mark.parametrize("sig, code, when", [(signal.SIGTERM, 143, "staging"), (signal.SIGINT, 130, "model.c")])
def test_interrupted_build_leaves_no_litter(model: Path, tmp_path: Path, sig: int, code: int, when: str):
    """A build of a larger model (a few seconds) into a folder edgec made: signalled once its staging folder
    appears (SIGTERM) or once the C is in it (SIGINT); the old folder stays as it was and nothing is left beside."""
    big = MODELS / "vww_96_int8.tflite"
    if not big.is_file():
        pytest.fail(f"{big} is missing: tests read the shared models from ../shared beside the repository")
    out = built(model, tmp_path / "out")
    before = tree(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "edgec.cli", "build", str(big), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        staging = [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
        if staging and (when == "staging" or (staging[0] / "model.c").exists()):
            proc.send_signal(sig)
            break
        time.sleep(0.01)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, f"exit {proc.returncode} (the build ended before the signal?)\n{err}"
    assert "interrupted" in err and "Traceback" not in err
    assert tree(tmp_path) == before


def test_interrupted_first_build_leaves_nothing(tmp_path: Path):
    big = MODELS / "vww_96_int8.tflite"
    if not big.is_file():
        pytest.fail(f"{big} is missing: tests read the shared models from ../shared beside the repository")
    proc = subprocess.Popen([sys.executable, "-m", "edgec.cli", "build", str(big), "--out",
                             str(tmp_path / "new" / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if (tmp_path / "new").is_dir() and any((tmp_path / "new").iterdir()):
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.01)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------- reproducible builds

@pytest.mark.parametrize("board", ["host", BOARD])
@pytest.mark.parametrize("patch", ["--patch", "--no-patch"])
def test_reproducible(tmp_path: Path, board: str, patch: str):
    """The same model and options, built into two different folders by processes with different hash seeds:
    every byte of every file is the same, the firmware ELF and the manifest included."""
    if board != "host" and NO_CROSS_TOOLCHAIN is not None:
        pytest.skip(NO_CROSS_TOOLCHAIN)
    model = tmp_path / "m.tflite"
    model.write_bytes(patch_stage_net())
    outs = []
    for seed, name in [("1", "first"), ("2", "second")]:
        res = edgec("build", model, "--board", board, patch, "--out", tmp_path / name / "m",
                    env={"PYTHONHASHSEED": seed})
        assert res.returncode == 0, res.stderr
        outs.append(tree(tmp_path / name / "m"))
    assert outs[0] == outs[1]
    assert (MANIFEST in outs[0]) and ("firmware.elf" in outs[0]) == (board != "host")
    if board != "host":
        assert str(tmp_path).encode() not in outs[0]["firmware.elf"]  # type: ignore[operator]


def test_file_added_during_the_build_is_kept(model: Path, tmp_path: Path):
    """The folder is checked again when it is swapped: a file a user puts in it during the build refuses the swap
    (exit 2) and the old folder comes back with the file."""
    big = MODELS / "vww_96_int8.tflite"
    if not big.is_file():
        pytest.fail(f"{big} is missing: tests read the shared models from ../shared beside the repository")
    out = built(model, tmp_path / "out")
    proc = subprocess.Popen([sys.executable, "-m", "edgec.cli", "build", str(big), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]:
            (out / "late.txt").write_text("written during the build\n")
            break
        time.sleep(0.01)
    before = {k: v for k, v in tree(tmp_path).items() if not k.startswith(".out.")}  # minus the staging folder
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "unexpected: late.txt" in err and err.count("error:") == 1
    assert tree(tmp_path) == before


def test_edgec_test_refuses_the_same_way(model: Path, tmp_path: Path):
    out = built(model, tmp_path / "fc")
    (out / "inputs.npz").write_bytes(b"mine")
    before = tree(tmp_path)
    assert_error(edgec("test", model, "--out", out, "--samples", "1"), 2, "unexpected: inputs.npz")
    assert tree(tmp_path) == before


def test_output_folder_gets_mkdirs_mode(model: Path, tmp_path: Path):
    """The folder is staged in a private (0700) temporary folder, but the user gets the mode mkdir gives under
    the umask (0755 under the usual 022), as any tool's output folder: group and others can read the C."""
    out = built(model, tmp_path / "out")
    mask = os.umask(0o022)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~mask
