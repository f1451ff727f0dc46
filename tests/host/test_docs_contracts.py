"""The docs own the contracts, and these tests keep them honest: every file of a real output folder and every key
of a real report.json / plan.json is in docs/output.md (and every report.json key the page lists is one edgec
writes); every relative link of the repository's Markdown resolves, anchors included, and every repository path
it names exists; and no file points its reader to something outside the repository (a path beside it, an outside
note, an issue or a brief). Tests and bench scripts may read the shared models and data beside the repository;
they may not cite it for a fact."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from run_cli import edgec
from small_models import patch_stage_net

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_MD = ROOT / "docs" / "output.md"
DIGITS = ROOT / "examples" / "digits"
BOARD = "nucleo_l4r5zi"

#: dicts keyed by data (tensor names), not by a fixed vocabulary: their keys are not documented one by one
DATA_KEYED = {"buffer_shapes", "dropped_values", "tensors", "trained_layers", "trained_parameters"}


# ---- the output folder and its reports -------------------------------------------------------------------------

def _section(markdown: str, title: str) -> str:
    """The text under the `## title` heading, up to the next `## ` heading."""
    start = markdown.index(f"\n## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start:end if end >= 0 else None]


def _backticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


def _first_column(text: str) -> set[str]:
    """The backticked names in the first cell of each table row: the keys a table documents."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            names |= _backticked(line.split("|")[1])
    return names


def _key_paths(value, path: str = "") -> set[str]:
    """Every key of a JSON value as a dotted path, `[]` for list items (data-keyed dicts: the key itself only)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            out.add(f"{path}.{key}" if path else key)
            if key not in DATA_KEYED:
                out |= _key_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for item in value:
            out |= _key_paths(item, f"{path}[]")
    return out


def _run(*args) -> None:
    res = edgec(*args)
    assert res.returncode == 0, f"edgec {' '.join(map(str, args))}: exit {res.returncode}\n{res.stderr}"


def _host_patched(tmp: Path) -> Path:
    """A host build with a patch-based stage (split tensor over the input), tested with the layer diff, and its
    HTML report: the report's `patch` and `test` sections and the host files `edgec test` adds."""
    model = tmp / "patch_stage_net.tflite"
    model.write_bytes(patch_stage_net())
    out = tmp / "host"
    _run("test", model, "--patch", "--layers", "--samples", "2", "--out", out)
    _run("report", out, "--html")
    return out


def _onnx_calibrated(tmp: Path) -> Path:
    """The bundled float ONNX model quantized by edgec and tested on labelled real inputs: `calibration`,
    `quantized_tflite`, `test.float_model`, `test.accuracy`."""
    out = tmp / "onnx"
    _run("test", DIGITS / "digits_cnn.onnx", "--calib", DIGITS / "digits_calib.npz", "--inputs",
         DIGITS / "digits_test_float.npz", "--samples", "12", "--out", out)
    return out


def _board(tmp: Path) -> Path:
    """A Cortex-M board build (cross-compiled and linked, not run): the firmware files and the board keys."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed: the board build's files and keys are not checked")
    model = tmp / "patch_stage_net.tflite"
    model.write_bytes(patch_stage_net())
    out = tmp / "board"
    _run("build", model, "--board", BOARD, "--out", out)
    return out


def _trained(tmp: Path) -> Path:
    """An `edgec train` folder on the host, with held-out data: the `training` section and its files."""
    import numpy as np

    model = tmp / "patch_stage_net.tflite"
    model.write_bytes(patch_stage_net())
    x = np.random.default_rng(0).uniform(-0.05, 0.05, (12, 1, 32, 32, 3)).astype(np.float32)
    np.savez(tmp / "d.npz", x=x, labels=np.arange(12) % 4)
    out = tmp / "trained"
    _run("train", model, "--data", tmp / "d.npz", "--eval", tmp / "d.npz", "--scheme", "bias", "--out", out)
    _run("report", out, "--html")  # the training section: what is trained, memory per phase, the loss curve
    return out


FOLDERS = {"host-patched": _host_patched, "onnx-calibrated": _onnx_calibrated, "board": _board,
           "trained": _trained}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Each kind of folder built at most once per worker, on first use."""
    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            built[kind] = FOLDERS[kind](tmp_path_factory.mktemp(kind))
        return built[kind]
    return get


@pytest.mark.parametrize("kind", sorted(FOLDERS))
def test_every_file_and_key_of_a_real_folder_is_documented(folders, kind):
    out = folders(kind)
    page = OUTPUT_MD.read_text()

    manifest = json.loads((out / ".edgec-manifest.json").read_text())
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {".edgec-manifest.json"}
    assert set(manifest["files"]) == on_disk, "the manifest does not list exactly the folder's files"
    manifest_doc = _backticked(_section(page, "The manifest and when a folder is replaced"))
    assert {"edgec_version", "files", "size", "sha256"} <= manifest_doc | set(
        re.findall(r'"(\w+)"', _section(page, "The manifest and when a folder is replaced")))
    files_doc = _backticked(_section(page, "Files"))
    for name in sorted(on_disk | {".edgec-manifest.json"}):
        top = name.split("/")[0]
        documented = f"{top}/" in files_doc if "/" in name else name in files_doc
        assert documented, f"{name} (written by edgec into a {kind} folder) is not in docs/output.md's Files"

    report_doc = _section(page, "report.json")
    report_names = _backticked(report_doc)
    report = json.loads((out / "report.json").read_text())
    for path in sorted(_key_paths(report)):
        key = path.rsplit(".", 1)[-1].removesuffix("[]")
        assert key in report_names, f"report.json key `{path}` ({kind} folder) is not documented in docs/output.md"

    plan_names = _backticked(_section(page, "plan.json"))
    plan = json.loads((out / "plan.json").read_text())
    for path in sorted(_key_paths(plan)):
        key = path.rsplit(".", 1)[-1].removesuffix("[]")
        assert key in plan_names | report_names, f"plan.json key `{path}` is not documented in docs/output.md"


def test_every_documented_report_key_is_one_edgec_writes(folders):
    """The reverse: a key in the first column of a report.json table that no real report holds is a renamed or
    removed key the page still promises (the three folders between them hold every key)."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed: the board keys cannot be produced")
    written: set[str] = set()
    for kind in FOLDERS:
        for path in _key_paths(json.loads((folders(kind) / "report.json").read_text())):
            written.add(path.rsplit(".", 1)[-1].removesuffix("[]"))
    documented = _first_column(_section(OUTPUT_MD.read_text(), "report.json"))
    names = {n for cell in documented for n in re.split(r"[, ]+", cell) if n}
    assert names, "docs/output.md has no report.json tables"
    assert not names - written, f"docs/output.md documents keys no report.json holds: {sorted(names - written)}"


# ---- links ---------------------------------------------------------------------------------------------------------

def _tracked_files() -> list[Path]:
    """The repository's files: git's list when this is a checkout, else a walk without build products."""
    git = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if git.returncode == 0 and git.stdout:
        return [ROOT / name for name in git.stdout.decode().split("\0") if name and (ROOT / name).is_file()]
    skip = {".git", ".venv", "build", "__pycache__", ".pytest_cache", ".zoo", ".ruff_cache", ".mypy_cache"}
    return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
            and ".egg-info" not in str(p)]


def _without_code_blocks(markdown: str) -> str:
    return re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, markup and punctuation dropped, spaces to hyphens, -1, -2 on repeats."""
    seen: dict[str, int] = {}
    for line in _without_code_blocks(markdown).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1)).lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def test_every_relative_link_resolves():
    pages = [p for p in _tracked_files() if p.suffix == ".md"]
    assert ROOT / "README.md" in pages and OUTPUT_MD in pages
    broken = []
    for page in pages:
        text = _without_code_blocks(page.read_text(encoding="utf-8"))
        for target in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}: ({target})"
            if not dest.exists() or not dest.is_relative_to(ROOT):
                broken.append(f"{where}: no such file in the repository")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text(encoding="utf-8")):
                broken.append(f"{where}: no heading with anchor #{anchor}")
    assert not broken, "broken links:\n" + "\n".join(broken)


REPO_PATH = re.compile(r"(?<![\w./-])((?:toolchain|runtime|targets|boards|tests|bench|examples|docs)/[\w./-]*\w)(<?)")


def test_every_repository_path_a_page_names_exists():
    """A file the Markdown names by its path (`toolchain/patch.py`, `runtime/edgec_fixedpoint.h`) exists: a move or
    a rename must update the pages. Not checked: patterns (`test_op_<op>.py`), hidden caches (`bench/.zoo`), and a
    module's attribute (`tests/onnx_models.small_cnn` names `tests/onnx_models.py`)."""
    stale = []
    for page in (p for p in _tracked_files() if p.suffix == ".md"):
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for path, pattern in REPO_PATH.findall(line):
                if pattern or any(part.startswith(".") for part in path.split("/")):
                    continue
                module = ROOT / (path.split(".")[0] + ".py")
                if not (ROOT / path).exists() and not module.is_file():
                    stale.append(f"{page.relative_to(ROOT)}:{n}: {path}")
    assert not stale, "pages name files the repository does not have:\n" + "\n".join(stale)


# ---- nothing points outside the repository -------------------------------------------------------------------

#: allowed only in tests/ and bench/, which read the shared models and data beside the repository
BESIDE = re.compile(r"\.\./shared")
#: never: an absolute path of the machine, outside notes, the design file, an issue, a brief, the people around it
OUTSIDE = [re.compile(p) for p in (
    r"/work/", r"shared/reference", r"DESIGN\.md", r"(?i)\bbrief\b", r"(?i)\bissue\s*#?\s*\d+",
    r"(?i)\bthe (?:\w+ )?issue\b(?! tracker)", r"\bCEO\b", r"(?i)\bstop \d+\b")]
#: Markdown files a text may name without their being in the repository: the ones edgec writes
WRITTEN_MD = {"report.md"}
BINARY = {".tflite", ".onnx", ".npz", ".npy", ".png", ".jpg", ".bmp", ".elf", ".so", ".o", ".a", ".zip"}


def test_nothing_points_outside_the_repository():
    files = [p for p in _tracked_files() if p.suffix not in BINARY and p != Path(__file__).resolve()]
    md_names = {p.name for p in files if p.suffix == ".md"} | WRITTEN_MD
    found = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        rel = path.relative_to(ROOT).as_posix()
        may_read_beside = rel.startswith(("tests/", "bench/"))
        for n, line in enumerate(text.splitlines(), 1):
            hits = [p.pattern for p in OUTSIDE if p.search(line)]
            if not may_read_beside and BESIDE.search(line):
                hits.append(BESIDE.pattern)
            hits += [f"{m} (no such file in the repository)" for m in re.findall(r"[\w./-]*\w\.md\b", line)
                     if Path(m).name not in md_names]
            found += [f"{rel}:{n}: {hit}: {line.strip()[:120]}" for hit in hits]
    assert not found, "text that points outside the repository (write the fact, or link a docs/ page):\n" + \
        "\n".join(found)
