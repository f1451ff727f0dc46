"""c_text: any text becomes a safe comment, any name a valid, unique, non-reserved C identifier; checked by gcc."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np

from edgec.c_text import CNames, c_comment_text, display_text, identifier_part, printable

ADVERSARIAL = ["*/", "/*", "*/*", "/*/", "**//", "a*", "/a", "x\n#error boom", "z\\", "\\", "??/", "???/", "??=x",
               "q\"'%n", "\r\x00\x1b[31m", "\u00e9\u4e2d", "\udcff", "A" * 10_000, "", "*", "/"]


def _texts() -> list[str | bytes]:
    rng = np.random.default_rng(0)
    alphabet = np.frombuffer(b"*/?\\\n\r\"'#=() ax\x00\xff", dtype=np.uint8)
    fuzz = [bytes(rng.choice(alphabet, size=int(rng.integers(1, 24)))) for _ in range(400)]
    return [*ADVERSARIAL, *fuzz]


def test_comment_text_is_inert():
    for text in _texts():
        s = c_comment_text(text)
        assert re.fullmatch(r"[\x20-\x7e]*", s), s
        assert "*/" not in s and "/*" not in s and "??" not in s, s
        assert not s.startswith(("*", "/")) and not s.endswith(("*", "/")), s
        assert all(re.match(r"\\x[0-9a-f]{2}", s[m.start():]) for m in re.finditer(r"\\", s)), s
        assert len(s) <= 80 + 3


def test_gcc_reads_every_comment_as_a_comment(tmp_path):
    """All texts as comments in one file, each followed by a declaration: with trigraphs on and -Werror, gcc sees
    exactly the declarations (a text that ended its comment or continued a line would add or hide one)."""
    gcc = shutil.which("gcc")
    assert gcc is not None
    texts = _texts()
    src = "".join(f"/* {c_comment_text(t)} */\nint v{k};\n" for k, t in enumerate(texts))
    (tmp_path / "c.c").write_text(src)
    res = subprocess.run([gcc, "-std=c99", "-trigraphs", "-Wall", "-Wextra", "-Werror", "-E", "-P", "c.c"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[:2000]
    assert re.findall(r"int v\d+;", res.stdout) == [f"int v{k};" for k in range(len(texts))]
    assert res.stdout.split() == [w for k in range(len(texts)) for w in ("int", f"v{k};")]


def test_ordinary_names_are_unchanged():
    for name in ["conv1", "model/conv2d/Conv2D;bias", "fc1_w [8, 3] int8", "#0 CONV_2D (input)"]:
        assert c_comment_text(name) == name
        assert printable(name) == name
    assert identifier_part("kws_ref_model") == "kws_ref_model"


def test_identifier_parts_are_bounded_and_distinct():
    for name in ["9lives", "", "_X", "a.b", "\u00e9", "*/ #error", "A" * 10_000]:
        assert re.fullmatch(r"[A-Za-z0-9_]{0,40}", identifier_part(name)), name
    assert identifier_part("A" * 10_000) != identifier_part("A" * 9_999)


def test_symbols_are_claimed_once():
    """Stems are plain, unreserved identifiers or generated; every symbol is handed out once."""
    names = CNames(reserved={"edgec_arena"})
    assert names.claim("edgec_arena") == "edgec_arena_1"
    assert [names.claim("a_b") for _ in range(3)] == ["a_b", "a_b_1", "a_b_2"]
    ops = ["conv", "a.b", "a-b", "edgec_add_f32", "int", "9x", "conv", "__x", "_conv1_Conv", "_9"]
    stems = [names.stem(n, k) for k, n in enumerate(ops)]
    assert stems == ["conv", "op_1", "op_2", "op_3", "int", "op_5", "conv", "x", "conv1_Conv", "op_9"]
    assert names.stem("op_1", 7) == "op_1_1"  # a plain name that meets a generated stem


def test_display_text_keeps_unicode_and_escapes_controls():
    assert display_text("caf\u00e9 \u4e2d") == "caf\u00e9 \u4e2d"
    assert display_text("a\n#error\x1b[31m\udcff") == "a\\x0a#error\\x1b[31m\ufffd"
