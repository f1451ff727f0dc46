"""The only ways text from a model file reaches generated C, Make and CMake files: a sanitized comment or a
generated identifier (docs/architecture.md, "What reaches the generated C").

Names in a model file are arbitrary bytes (TFLite) or strings (ONNX): `*/`, newlines followed by `#include`, a
backslash before a newline, trigraphs, quotes, 10,000 characters. Nothing of them may become code:
- `c_comment_text` makes any text safe inside a /* */ comment and inside a `#` comment of a Makefile or
  CMakeLists.txt: printable ASCII only, every other byte (and the backslash itself) as \\xNN, no comment
  delimiter, no trigraph, bounded length;
- `identifier_part` and `CNames` make every symbol edgec's own: `<prefix>_<sanitized name>` or `<stem>_<suffix>`
  with a stem that is a plain identifier or a generated `op_<index>`, never reserved (no leading underscore),
  collision-free across one output folder (two names that sanitize alike get distinct symbols).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

#: the longest name kept whole in an identifier; longer ones are cut and made unique by a hash of the whole name
#: (C99 guarantees 63 significant characters for internal identifiers, 31 for external ones)
IDENTIFIER_NAME_CHARS = 40
COMMENT_CHARS = 80


def printable(text: str | bytes, limit: int = COMMENT_CHARS) -> str:
    """`text` on one line of printable ASCII: the backslash and every byte outside 0x20..0x7E (newline, CR, other
    controls, the UTF-8 bytes of non-ASCII text, undecodable bytes of a file name) as \\xNN. Longer than `limit`
    characters, cut (never inside an escape) and ended with `...`."""
    return _join(_escaped(text), limit)


def c_comment_text(text: str | bytes, limit: int = COMMENT_CHARS) -> str:
    """`text` as it may appear inside a C block comment or a Make/CMake `#` comment, on one line.

    `printable` (so ordinary names read unchanged and no line can end in a continuation or start a preprocessor
    or Make line), and: `*/` and `/*` lose their `/` to \\x2f, so the comment cannot be closed or nested; `??`
    becomes `?\\x3f`, so no trigraph (C99 5.2.1.1) forms.
    """
    pieces = _escaped(text)
    for k in range(1, len(pieces)):  # comment delimiters and trigraphs: escape one character of the pair
        pair = pieces[k - 1] + pieces[k]
        if pair in ("*/", "??"):
            pieces[k] = f"\\x{ord(pieces[k]):02x}"
        elif pair == "/*":
            pieces[k - 1] = "\\x2f"
    for k in (0, -1):  # nor with the template's `/*` or `*/` right beside the text
        if pieces and pieces[k] in ("*", "/"):
            pieces[k] = f"\\x{ord(pieces[k]):02x}"
    return _join(pieces, limit)


def _escaped(text: str | bytes) -> list[str]:
    raw = text if isinstance(text, bytes) else text.encode("utf-8", errors="surrogateescape")
    return [chr(b) if 0x20 <= b <= 0x7E and b != 0x5C else f"\\x{b:02x}" for b in raw]


def _join(pieces: list[str], limit: int) -> str:
    out, length = [], 0
    for p in pieces:
        if length + len(p) > limit:
            out.append("...")
            break
        out.append(p)
        length += len(p)
    return "".join(out)


def display_text(text: object) -> str:
    """Text for a page or a terminal, Unicode kept: a file name's undecodable bytes (surrogate escapes) as U+FFFD,
    so that it can be encoded at all, and control characters (newline, ESC of a terminal sequence, C1) as \\xNN,
    so that it stays on its line. The caller still escapes it for its medium (html.escape, rich.markup.escape)."""
    text = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", text)


def sanitize(name: str) -> str:
    """Every character outside [0-9A-Za-z_] replaced by `_` (the part of a symbol a name contributes)."""
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def identifier_part(name: str, limit: int = IDENTIFIER_NAME_CHARS) -> str:
    """`name` as the part of an identifier that follows a prefix (`edgec_<part>`): sanitized; longer than `limit`,
    cut and ended with 7 hex digits of the name's SHA-1, so that long names stay distinct."""
    s = sanitize(name)
    if len(s) > limit:
        s = f"{s[:limit - 8]}_{hashlib.sha1(name.encode('utf-8', 'surrogateescape')).hexdigest()[:7]}"
    return s


class CNames:
    """The symbols of one output folder: `claim` hands out each symbol once (a taken one gets `_1`, `_2` ...);
    `stem` maps an op to the stem of its symbols (its name when that is a plain identifier, else `op_<index>`)."""

    PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

    def __init__(self, reserved: Iterable[str] = ()):
        self.taken: set[str] = set(reserved)
        self.stems: dict[str, str] = {}

    def claim(self, symbol: str) -> str:
        unique, k = symbol, 1
        while unique in self.taken:
            unique, k = f"{symbol}_{k}", k + 1
        self.taken.add(unique)
        return unique

    def stem(self, op_name: str, index: int) -> str:
        """Symbols of an op are `<stem>_params`, `<stem>_regions` ... and `<prefix>_<stem>_<field>`: the stem is
        the op's name (without leading underscores) when that is a plain identifier of at most
        IDENTIFIER_NAME_CHARS characters that cannot meet edgec's own `edgec_` names; otherwise a generated
        `op_<index>`. Stems are unique."""
        if op_name not in self.stems:
            name = op_name.lstrip("_")  # `_conv1_Conv` of an exporter's `/conv1/Conv`: a leading `_` is reserved
            plain = (self.PLAIN.fullmatch(name) is not None and len(name) <= IDENTIFIER_NAME_CHARS
                     and not name.lower().startswith("edgec"))
            self.stems[op_name] = self.claim(name if plain else f"op_{index}")
        return self.stems[op_name]
