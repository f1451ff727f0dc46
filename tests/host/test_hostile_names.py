"""Nothing from a model file reaches the generated C, Make or CMake files, the reports or the terminal as code.

A .tflite and an .onnx model whose tensor, node, graph and file names are hostile (comment terminators, newlines
before `#error` / `#include` / `#define`, a backslash at the end, trigraphs, quotes, format strings, rich markup,
HTML, non-UTF-8 bytes, names that sanitize alike, C keywords, runtime and reserved names, a leading digit, a
10,000-character name) go through the real CLI: `edgec build` and `edgec test` exit 0 at 0 LSB, on the host and
on an emulated Cortex-M board. The output folder is then checked with the tools that would be fooled: gcc with
-Werror (directives, syntax), `gcc -E -dD` (every macro and every token the generated files contribute), `nm`
(every symbol the objects define), `make -n` (the one command the Makefile runs) and `edgec report --html`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import flatbuffers
import numpy as np
import onnx
import pytest
from onnx_models import small_cnn
from run_cli import edgec
from small_models import conv_dw_pool_fc, patch_stage_net
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "digits"
INJECTED = "edgec_injected_global"
HOSTILE = [
    f"w */ int {INJECTED} = 42; /*",  # closes the comment it is printed in and declares a global
    "x\n#error boom",  # a newline, then a directive
    'y\n#include "x"\n#define int float',
    "z\\",  # a backslash at the end of the line continues it
    "t??/",  # the trigraph of a backslash
    "??=error trigraph",  # the trigraph of #
    "q\"'%n%s\r",  # quotes, format strings, a carriage return
    "[bold]rich[/bold] [/nope]",  # rich markup, a closing tag never opened (a MarkupError if interpreted)
    "<script>alert(1)</script>",
    "int",
    "9lives",  # starts with a digit
    "edgec_arena",  # a name of edgec's own C
    "A" * 10_000,
]
# the ONNX model also names its nodes: C keywords, names that sanitize alike, runtime and reserved identifiers
NODE_NAMES = ["return", "a.b", "a-b", "a_b", "edgec_add_f32", "__x", "_X", "\u00e9\u4e2d\x01\x7f", "9lives",
              "/* x */ int y;", "A" * 10_000]
# words of the hostile names that must never be a token of the compiled code (only parts of generated identifiers)
MARKERS = {INJECTED, "boom", "error", "include", "define", "trigraph", "rich", "bold", "nope", "script", "alert",
           "lives", "img", "onerror"}
# a file name cannot hold `/`; the rest is as hostile (the TFLite one adds undecodable bytes)
FILE_NAME = "m * #e\n#error f\n??=error g [bold]x[red] <img src=x onerror=alert(1)> $\\frac{ \u00e9'\"%n\\"
TFLITE_FILE = os.fsdecode(FILE_NAME.encode() + b" \xff\xfe.tflite")
ONNX_FILE = FILE_NAME + ".onnx"
GENERATED_C = ["model.c", "model.h", "weights.c", "weights.h", "main.c"]


def hostile_tflite(make=conv_dw_pool_fc, offset: int = 0) -> bytes:
    """A small model with every tensor renamed (raw bytes, some not UTF-8), and hostile subgraph name,
    description, metadata and signature names."""
    names = [h.encode() for h in HOSTILE] + [b"\xff\xfe\n#error bytes", b"\xc3(\n#define x"]
    m = tfl.ModelT.InitFromPackedBuf(make(), 0)
    sg = m.subgraphs[0]
    assert len(sg.tensors) <= len(names)
    for k, t in enumerate(sg.tensors):
        t.name = names[(k + offset) % len(names)]
    sg.name = b"*/\n#error subgraph"
    m.description = b"*/\n#error description \xff"
    meta = tfl.MetadataT()
    meta.name, meta.buffer = b"*/\n#error metadata", 0
    m.metadata = [meta]
    sig = tfl.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = b"*/\n#error signature", 0
    sig.inputs, sig.outputs = [], []
    for indices, maps, name in ((sg.inputs, sig.inputs, b"*/\n#error in"), (sg.outputs, sig.outputs, b"\n#error out")):
        tm = tfl.TensorMapT()
        tm.name, tm.tensorIndex = name, int(indices[0])
        maps.append(tm)
    m.signatureDefs = [sig]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def hostile_onnx() -> onnx.ModelProto:
    """small_cnn with every value, initializer and node renamed, and hostile graph name, doc strings, producer
    and metadata_props."""
    m = small_cnn()
    g = m.graph
    names: dict[str, str] = {}

    def rename(name: str) -> str:
        if name and name not in names:
            k = len(names)
            names[name] = HOSTILE[k] if k < len(HOSTILE) else f"{HOSTILE[k % len(HOSTILE)]}#{k}"
        return names.get(name, name)

    for k, node in enumerate(g.node):
        node.name = NODE_NAMES[k % len(NODE_NAMES)]
        node.doc_string = "*/\n#error doc"
        node.input[:] = [rename(i) for i in node.input]
        node.output[:] = [rename(o) for o in node.output]
    for t in g.initializer:
        t.name = rename(t.name)
    for v in [*g.input, *g.output, *g.value_info]:
        v.name = rename(v.name)
    g.name, g.doc_string, m.doc_string = "*/\n#error graph", "*/\n#error gdoc", "*/\n#error mdoc"
    m.producer_name = "*/\n#error producer"
    onnx.helper.set_model_props(m, {"*/\n#error key": "*/\n#error value"})
    onnx.checker.check_model(m)
    return m


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[Path, list[str]]]:
    """The hostile models under hostile file names, with the options `edgec` needs for each."""
    tmp = tmp_path_factory.mktemp("hostile")
    tflite = tmp / TFLITE_FILE
    tflite.write_bytes(hostile_tflite())
    onnx_path = tmp / ONNX_FILE
    onnx.save(hostile_onnx(), onnx_path)
    calib = tmp / "[" / "x].npy"  # its path holds `[/x]`, a closing rich tag never opened
    calib.parent.mkdir()
    np.save(calib, np.random.default_rng(0).standard_normal((16, 1, 3, 16, 16)).astype(np.float32))
    return {"tflite": (tflite, []), "onnx": (onnx_path, ["--calib", str(calib)])}


def _ok(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 0, f"exit {res.returncode}\nstderr:\n{res.stderr}\nstdout:\n{res.stdout}"
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    return res.stderr


def _prefix(out: Path) -> str:
    m = re.search(r"^void (\w+)_invoke\(void\);$", (out / "model.h").read_text(), re.M)
    assert m is not None, "model.h declares no <prefix>_invoke"
    return m.group(1)


# every preprocessor line edgec's templates write; anything else was written by the model
DIRECTIVES = [r'#include "(model|weights)\.h"', r'#include "runtime/\w+\.h"',
              r"#include <(stddef|stdint|stdio|stdlib)\.h>", r"#include <math\.h> /\* INFINITY, NAN \*/",
              r"#ifdef EDGEC_TRACE", r"#else", r"#endif", r"#ifndef (?P<guard>EDGEC_\w+)_(WEIGHTS_)?H",
              r"#define (?P<macro>EDGEC_\w+)( -?[0-9.e+-]+f?)?",
              r"#define LAYER_DONE\(layer, data, nbytes\) (edgec_trace\(layer, data, nbytes\)|\(\(void\)0\))"]


def _check_lines(out: Path, prefix: str) -> None:
    """Line by line: every directive is one of the templates', with edgec's own names; no line of any generated
    text file ends in a backslash or holds a trigraph or a character outside printable ASCII."""
    guard = prefix.upper()
    problems = []
    texts = GENERATED_C + ["Makefile", "CMakeLists.txt"]
    texts += [str(p.relative_to(out)) for p in (out / "cortexm").glob("*")
              if p.suffix in (".ld", ".c") and p.name in ("main.c", "board.ld", "board_emulated.ld")]
    for name in texts:
        for n, line in enumerate((out / name).read_text().splitlines(), 1):
            where = f"{name}:{n}: {line[:120]!r}"
            if line.rstrip().endswith("\\") or "??" in line or re.search(r"[^\t\x20-\x7e]", line):
                problems.append(f"{where}: continuation, trigraph or non-printable character")
            if name not in GENERATED_C or not line.lstrip().startswith("#"):
                continue
            m = next((m for d in DIRECTIVES if (m := re.fullmatch(d, line.strip()))), None)
            if m is None:
                problems.append(f"{where}: a directive edgec does not write")
            elif not all(name.startswith(guard) for name in m.groupdict().values() if name):
                problems.append(f"{where}: a macro outside {guard}_*")
    assert not problems, "\n".join(problems)


def _tokens(code: str) -> set[str]:
    code = re.sub(r'"(\\.|[^"\\\n])*"|\'(\\.|[^\'\\\n])*\'', " ", code)  # string and character literals
    return set(re.findall(r"[A-Za-z_]\w*", code))


def _check_compiled(out: Path, prefix: str, tmp: Path) -> None:
    """What the compiler sees: -Werror builds; `gcc -E -dD` (comments gone, trigraphs and continuations applied)
    shows the macros and the tokens each generated file contributes; `nm` the symbols the objects define."""
    guard = prefix.upper()
    for src in ("model.c", "weights.c", "main.c"):
        obj = tmp / f"{src}.o"
        res = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-trigraphs", "-I.", "-c", src,
                              "-o", str(obj)], cwd=out, capture_output=True, text=True)
        assert res.returncode == 0, f"{src} does not compile:\n{res.stderr[:3000]}"
        pre = subprocess.run(["gcc", "-std=c99", "-E", "-dD", "-I.", src], cwd=out, capture_output=True, text=True,
                             check=True).stdout
        own, current = [], ""
        for line in pre.splitlines():
            marker = re.match(r'# \d+ "([^"]*)"', line)
            if marker:
                current = marker.group(1)
            elif current in GENERATED_C:
                own.append(line)
        macros = [m.group(1) for line in own if (m := re.match(r"#\s*define (\w+)", line))]
        assert all(m.startswith(guard + "_") or m == "LAYER_DONE" for m in macros), macros
        others = [line for line in own if line.lstrip().startswith("#") and not re.match(r"#\s*define ", line)]
        assert not others, f"{src}: directives left after preprocessing: {others[:5]}"
        code = "\n".join(line for line in own if not line.lstrip().startswith("#"))
        leaked = _tokens(code) & MARKERS
        assert not leaked, f"{src}: model text compiled as code: {sorted(leaked)}"
        symbols = subprocess.run(["nm", "--defined-only", str(obj)], capture_output=True, text=True,
                                 check=True).stdout.split("\n")
        for row in filter(None, symbols):
            kind, name = row.split()[-2:]
            assert name != INJECTED and not re.match(r"_[A-Z_]", name), f"{src}: symbol {name}"
            if kind.isupper() and src != "main.c":  # external: the model's API and constants
                assert name.startswith(prefix + "_"), f"{src}: external symbol {name} outside {prefix}_*"


def _check_make(out: Path) -> None:
    """The Makefile runs exactly the one compile command of the template (no rule or variable from a name)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "CFLAGS", "LDLIBS", "MAKEFLAGS")}
    res = subprocess.run(["make", "-n", "-B", "CC=gcc"], cwd=out, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    sources = ["model.c", "weights.c", "main.c"] + sorted(f"runtime/{p.name}" for p in (out / "runtime").glob("*.c"))
    want = f"gcc -std=c99 -O2 -Wall -Wextra -Werror -ffp-contract=off -I. -o model {' '.join(sources)} -lm"
    assert res.stdout.splitlines() == [want], res.stdout


@pytest.mark.parametrize("kind", ["tflite", "onnx"])
def test_hostile_names_on_the_host(models, tmp_path, kind):
    """`edgec test` (which builds the folder as `edgec build` does) passes at 0 LSB; the folder holds none of the
    names as code; the terminal, report.md and report.html show them as text."""
    model, options = models[kind]
    out = tmp_path / "out"
    res = edgec("test", model, "--out", out, "--layers", *options, env={"COLUMNS": "400"})
    assert "PASS: max |diff| 0 LSB" in _ok(res), res.stderr
    prefix = _prefix(out)
    _check_lines(out, prefix)
    _check_compiled(out, prefix, tmp_path)
    _check_make(out)

    # the terminal: names are text, not rich markup (an unopened [/nope] would raise), and stay on their line
    assert "\\x0a#error f\\x0a??=error g [bold]x[red]" in res.stdout  # the file name in the table's title
    if kind == "tflite":
        assert "[bold]rich[/bold] [/nope]" in res.stdout  # a layer label, verbatim
    for line in (res.stdout + res.stderr).splitlines():
        assert not line.lstrip("\u2502 ").startswith(("#error", "??=error", "#include", "#define")), line

    report = (out / "report.md").read_text(encoding="ascii")  # printable ASCII: no name can start a line
    assert not any(line.startswith(("#error", "??=error")) for line in report.splitlines()), report
    _ok(edgec("report", out, "--html"))
    page = (out / "report.html").read_text()
    assert "<img src=x" not in page and "<script" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the file name, escaped


def test_hostile_names_build(models, tmp_path):
    """`edgec build` alone: exit 0 and the same checks on its folder."""
    model, _ = models["tflite"]
    out = tmp_path / "out"
    _ok(edgec("build", model, "--out", out))
    _check_lines(out, _prefix(out))
    _check_compiled(out, _prefix(out), tmp_path)


def test_hostile_names_in_the_patch_stage(tmp_path):
    """The patch-based first stage: its region tables, per-patch structs and the stage comment naming the split
    tensor."""
    model = tmp_path / TFLITE_FILE
    model.write_bytes(hostile_tflite(patch_stage_net, offset=6))  # the split tensor (#9) closes its comment
    out = tmp_path / "out"
    _ok(edgec("build", model, "--out", out, "--patch"))
    assert f"patch stage: layers 0..2 once per patch of w *\\x2f int {INJECTED}" in (out / "model.c").read_text()
    _check_lines(out, _prefix(out))
    _check_compiled(out, _prefix(out), tmp_path)
    _check_make(out)


def test_hostile_names_on_an_emulated_cortex_m(models, tmp_path):
    """The firmware path: the harness main.c, the linker script and the cross build, run under QEMU."""
    model, _ = models["tflite"]
    out = tmp_path / "out"
    tested = _ok(edgec("test", model, "--board", "nucleo_f746zg", "--out", out, timeout=600))
    assert "PASS: max |diff| 0 LSB" in tested, tested
    _check_lines(out, _prefix(out))
    symbols = subprocess.run(["arm-none-eabi-nm", "--defined-only", str(out / "firmware_emulated.elf")],
                             capture_output=True, text=True, check=True).stdout
    assert INJECTED not in {row.split()[-1] for row in symbols.splitlines() if row.strip()}


@pytest.mark.parametrize("stem", ["conv2d_s8", "region", "9"])
def test_a_model_named_like_edgec_c(tmp_path, stem):
    """A file named after a kernel (its header guard EDGEC_CONV2D_S8_H), the arena, a keyword or a digit: the
    model's prefix steers clear of edgec's own names and the folder builds and runs."""
    model = tmp_path / f"{stem}.tflite"
    model.write_bytes(conv_dw_pool_fc())
    out = tmp_path / "out"
    _ok(edgec("build", model, "--out", out))
    res = subprocess.run(["make", "-s"], cwd=out, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[:3000]
    prefix = _prefix(out)
    assert re.fullmatch(r"edgec_[a-z0-9_]+", prefix) and stem in prefix, prefix
    x = np.random.default_rng(0).integers(-128, 128, size=12 * 12 * 3, dtype=np.int8)
    run = subprocess.run([str(out / "model"), "1"], input=x.tobytes(), capture_output=True, cwd=out)
    assert run.returncode == 0 and len(run.stdout) == 5, run.stderr


def test_litert_runs_a_model_whose_file_name_is_not_utf8(tmp_path):
    """LiteRT takes the model's bytes, not its path, so an undecodable file name keeps its LiteRT row."""
    model = tmp_path / os.fsdecode(b"m\xff.tflite")
    model.write_bytes((EXAMPLES / "digits_cnn_int8.tflite").read_bytes())
    res = edgec("test", model, "--out", tmp_path / "out", "--samples", "3")
    assert res.returncode == 0, res.stderr
    assert "LiteRT (ref)" in res.stdout and "LiteRT could not run" not in res.stderr, res.stdout + res.stderr
