"""docs/ops.md is generated from the constraint predicates; it must match what `edgec ops --markdown` prints."""

from pathlib import Path

from edgec.docs import ops_markdown
from edgec.importers.tflite import IMPORTERS
from edgec.ops import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def test_ops_md_is_current():
    assert (ROOT / "docs" / "ops.md").read_text() == ops_markdown(), \
        "docs/ops.md is stale: regenerate with `edgec ops --markdown > docs/ops.md`"


def test_every_imported_tflite_op_has_an_implementation():
    missing = {name: fn.ir_type for name, fn in IMPORTERS.items() if fn.ir_type not in REGISTRY}
    assert not missing, f"TFLite ops mapped to IR ops with no module: {missing}"


def test_every_constraint_has_a_user_facing_rule():
    for impl in REGISTRY.values():
        for c in impl.constraints:
            assert c.__doc__ and len(c.__doc__.split()) >= 3, f"{impl.type}: constraint {c.__name__} has no rule text"


def test_boards_md_table_is_current():
    """docs/boards.md carries the board table generated from boards/*.toml: every board file appears in it."""
    from edgec.board import all_boards
    from edgec.docs import boards_markdown

    doc = (ROOT / "docs" / "boards.md").read_text()
    begin, end = doc.index("<!-- boards:begin"), doc.index("<!-- boards:end -->")
    table = doc[doc.index("\n", begin) + 1:end]
    assert table == boards_markdown(), "the table in docs/boards.md is stale: paste `edgec boards --markdown` into it"
    for path in (ROOT / "boards").glob("*.toml"):
        name = path.stem
        assert name == "host" or f"| `{name}` |" in table, f"{path.name} is not in docs/boards.md"
    assert sum(1 for b in all_boards().values() if b.is_cortexm) >= 10
