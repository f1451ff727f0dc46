"""The generated-code rules (docs/output.md): no malloc and no stdio in the model, const weights, and a folder
that builds on its own with make and with cmake, warning-free (-Werror), and runs clean under ASan/UBSan."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from small_models import BUILT

from edgec import driver, host, reference, validate
from edgec.data import random_inputs

SHARED = ["ad01_int8", "kws_ref_model"]
STRICT = "-std=c99 -pedantic -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror"
FORBIDDEN = [
    (r"\b(malloc|calloc|realloc|free|alloca)\s*\(", "heap allocation"),
    (r"#\s*include\s*<stdio\.h>", "stdio"),
    (r"\b(printf|fprintf|puts|putchar|fwrite|fopen)\s*\(", "stdio call"),
    (r"\b(exit|abort)\s*\(", "exit/abort"),
]


@pytest.fixture(scope="module", params=SHARED + sorted(BUILT))
def built(request, tmp_path_factory) -> driver.Build:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param in BUILT:
        model = tmp / f"{request.param}.tflite"
        model.write_bytes(BUILT[request.param]())
    else:
        model = (Path(__file__).resolve().parents[2].parent / "shared" / "models" / "mlperf-tiny"
                 / f"{request.param}.tflite")
        if not model.is_file():
            pytest.fail(f"{model} is missing: tests read the shared models from ../shared beside the repository")
    return driver.build(model, tmp / "out")


def model_sources(out: Path) -> list[Path]:
    """Everything that goes into firmware: not main.c, the host test harness."""
    files = [out / "model.c", out / "model.h", out / "weights.c", out / "weights.h"]
    return files + sorted((out / "runtime").glob("*.[ch]"))


def strip_comments(code: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", code, flags=re.S)


def test_no_malloc_no_stdio(built):
    problems = []
    for f in model_sources(built.out):
        code = strip_comments(f.read_text())
        for pattern, what in FORBIDDEN:
            for m in re.finditer(pattern, code):
                problems.append(f"{f.relative_to(built.out)}: {what}: {m.group(0)}")
    assert not problems, "\n".join(problems)


def test_weights_are_const(built):
    code = strip_comments((built.out / "weights.c").read_text())
    arrays = re.findall(r"^([^\n#]*?\b\w+\s*\[\s*\d*\s*\]\s*=)", code, flags=re.M)
    assert arrays, "no arrays found in weights.c"
    mutable = [a for a in arrays if not re.match(r"\s*(static\s+)?const\b", a)]
    assert not mutable, f"weights.c defines non-const arrays: {mutable[:5]}"
    header = strip_comments((built.out / "weights.h").read_text())
    assert all("const" in line for line in header.splitlines() if line.startswith("extern"))


def test_model_has_one_mutable_static_the_arena(built):
    code = strip_comments((built.out / "model.c").read_text())
    statics = [line for line in code.splitlines() if re.match(r"\s*static\b", line)]
    mutable = [s for s in statics if not re.match(r"\s*static\s+(inline\s+)?const\b", s)]
    assert mutable == ["static union {"], mutable


def _check_against_tflm(model: Path, exe: Path, g, samples: int = 3) -> None:
    xs = random_inputs(g, samples, seed=11)
    ours = validate.split_outputs(host.run(exe, xs), g, len(xs))
    tflm, _ = reference.run_tflm(model, xs)
    for s, (a, b) in enumerate(zip(ours, tflm)):
        for x, y in zip(a, b):
            assert np.array_equal(np.asarray(x).reshape(-1), np.asarray(y).reshape(-1)), f"sample {s} differs from TFLM"


def test_builds_with_make(built, tmp_path):
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    folder = tmp_path / "copy"
    shutil.copytree(built.out, folder)
    res = subprocess.run(["make", f"CC={host.find_cc()}", f"CFLAGS=-O2 {STRICT}"], cwd=folder, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    _check_against_tflm(built.model, folder / "model", built.graph)


def test_builds_with_cmake(built, tmp_path):
    if shutil.which("cmake") is None:
        pytest.fail("cmake is not installed")
    folder = tmp_path / "copy"
    shutil.copytree(built.out, folder)
    cfg = subprocess.run(["cmake", "-S", str(folder), "-B", str(folder / "build"),
                          f"-DCMAKE_C_COMPILER={host.find_cc()}", f"-DCMAKE_C_FLAGS={STRICT}",
                          "-DCMAKE_BUILD_TYPE=Release"],
                         capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    res = subprocess.run(["cmake", "--build", str(folder / "build"), "-j", "2"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "warning" not in res.stdout + res.stderr
    _check_against_tflm(built.model, folder / "build" / "model", built.graph)


def test_runs_clean_under_sanitizers(built):
    exe = host.build(built.out, built.sources, exe="model_asan", sanitize=True)
    _check_against_tflm(built.model, exe, built.graph, samples=4)
