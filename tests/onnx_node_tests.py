"""The official ONNX backend node tests, regenerated offline from the `onnx` wheel, run through edgec's float path.

The onnx wheel ships the test-case generators (`onnx.backend.test.case.node`) but not their data; this module
writes the cases whose graph uses an op edgec maps into tests/.cache/onnx-node-<onnx version>-<op set hash>/
(ignored by git: the folder holds its own `.gitignore`), plus the `pytorch-converted` depthwise/grouped convolution
cases the wheel ships with data. Each case is then run as edgec runs a model:

    model -> restamp opset into 13..21 -> freeze the inputs edgec compiles as constants -> import_onnx_model
          -> canonicalize -> numpy float32 references (every case)  [-> generated C under ASan/UBSan (subset)]

and compared with the case's expected outputs at the case's own tolerance (rtol 1e-3, atol 1e-7 by default).

- Opset: the generators stamp the newest opset (up to 28); edgec reads 13..21. A newer model is restamped to 21
  when every op in it has the same definition there modulo added types (the checker and shape inference must
  accept it at 21); an older one goes through onnx.version_converter (the pytorch-converted ones are opset 6).
- Frozen inputs: node tests pass weights, shapes, pads and scales as graph inputs; edgec compiles those into
  the C, so every input but an op's data inputs becomes an initializer holding the data set's value.

`python tests/onnx_node_tests.py` rewrites tests/onnx_conformance.toml from a fresh run (status and a one-line
reason per excluded case); tests/host/test_onnx_conformance.py fails when a listed-passing case fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

TESTS = Path(__file__).resolve().parent
LIST = TESTS / "onnx_conformance.toml"
CACHE_ROOT = TESTS / ".cache"
PYTORCH_CONVERTED = ["test_Conv2d_depthwise", "test_Conv2d_depthwise_padded", "test_Conv2d_depthwise_strided",
                     "test_Conv2d_depthwise_with_multiplier", "test_Conv2d_groups", "test_Conv2d_groups_thnn"]
#: inputs of these ops are all data (two activations can meet): never frozen
ALL_DATA = {"Add", "Sub", "Mul", "Concat"}
#: the generated C is built and run for these cases (one or two per op: compiling all would take minutes)
C_SUBSET_PER_OP = 1


def supported_ops() -> set[str]:
    from edgec.importers.onnx import IMPORTERS

    return set(IMPORTERS)


# ---- generation -------------------------------------------------------------------------------------------------

def cache_dir() -> Path:
    """One folder per onnx version and per set of ops edgec maps (a new importer op must not read a stale cache)."""
    ops_key = hashlib.sha256(",".join(sorted(supported_ops())).encode()).hexdigest()[:12]
    return CACHE_ROOT / f"onnx-node-{onnx.__version__}-{ops_key}"


def ensure_cache() -> Path:
    """Write the selected node tests (once per onnx version and op set) and copy the pytorch-converted ones.

    Several xdist workers may get here at once with a cold cache: each writes a private folder and renames it into
    place; the first rename wins and the others drop their copy, so a reader only ever sees a complete cache."""
    cache = cache_dir()
    if (cache / "done.json").is_file():
        return cache
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    (CACHE_ROOT / ".gitignore").write_text("*\n")
    work = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=CACHE_ROOT))
    try:
        _write_cache(work)
        try:
            os.rename(work, cache)
        except OSError:  # another worker renamed its complete copy first (ENOTEMPTY / EEXIST)
            if not (cache / "done.json").is_file():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return cache


def _write_cache(root: Path) -> None:
    import warnings

    from onnx.backend.test.case.node import collect_testcases

    ops = supported_ops()
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    for case in cases:
        if case.name.endswith("_expanded") or not {n.op_type for n in case.model.graph.node} & ops:
            continue
        d = root / "node" / case.name
        if _write_case(d, case.model, case.data_sets or []):
            (d / "tolerance.json").write_text(json.dumps(dict(rtol=case.rtol, atol=case.atol)))
            written.append(case.name)
    src = Path(onnx.__file__).parent / "backend" / "test" / "data" / "pytorch-converted"
    for name in PYTORCH_CONVERTED:
        shutil.copytree(src / name, root / "pytorch-converted" / name)
    (root / "done.json").write_text(json.dumps(dict(onnx=onnx.__version__, cases=len(written))))


def _write_case(d: Path, model: onnx.ModelProto, data_sets: list) -> bool:
    """model.onnx and test_data_set_N/{input,output}_K.pb; False for cases with sequence/map/optional values."""
    d.mkdir(parents=True)
    onnx.save(model, d / "model.onnx")
    for k, (inputs, outputs) in enumerate(data_sets):
        ds = d / f"test_data_set_{k}"
        ds.mkdir()
        for kind, values, infos in (("input", inputs, model.graph.input), ("output", outputs, model.graph.output)):
            for j, v in enumerate(values):
                if isinstance(v, onnx.TensorProto):
                    proto = v
                elif isinstance(v, np.ndarray) or np.isscalar(v):
                    proto = numpy_helper.from_array(np.asarray(v), infos[j].name)
                else:
                    shutil.rmtree(d)
                    return False
                (ds / f"{kind}_{j}.pb").write_bytes(proto.SerializeToString())
    return True


def case_dirs() -> dict[str, Path]:
    root = ensure_cache()
    found = {f"node/{p.name}": p for p in sorted((root / "node").iterdir())}
    found.update({f"pytorch-converted/{p.name}": p for p in sorted((root / "pytorch-converted").iterdir())})
    return found


# ---- running ----------------------------------------------------------------------------------------------------

def load_data(d: Path) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    sets = []
    for ds in sorted(d.glob("test_data_set_*")):
        ins, outs = [], []
        for kind, into in (("input", ins), ("output", outs)):
            for f in sorted(ds.glob(f"{kind}_*.pb"), key=lambda p: int(p.stem.split("_")[1])):
                t = onnx.TensorProto()
                t.ParseFromString(f.read_bytes())
                into.append(numpy_helper.to_array(t))
        sets.append((ins, outs))
    return sets


def restamp(model: onnx.ModelProto) -> onnx.ModelProto:
    """Bring the model into opsets 13..21 (see the module docstring)."""
    from edgec.importers.onnx_passes import OPSET_MAX, OPSET_MIN, opset

    v = opset(model)
    if v > OPSET_MAX:
        for node in model.graph.node:
            newest = onnx.defs.get_schema(node.op_type, v).since_version
            there = onnx.defs.get_schema(node.op_type, OPSET_MAX).since_version
            if newest != there and not _fits_schema(node, there):
                raise RestampError(f"{node.op_type}-{newest} uses what {node.op_type}-{there} (opset {OPSET_MAX}) "
                                   "does not have")
        for o in model.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = OPSET_MAX
        model.ir_version = min(model.ir_version, 10)
    elif v < OPSET_MIN:
        from onnx import version_converter

        try:
            model = version_converter.convert_version(model, OPSET_MIN)
        except Exception as e:
            raise RestampError(f"onnx.version_converter cannot bring opset {v} to {OPSET_MIN} ({e})") from None
    try:
        onnx.checker.check_model(model)
        onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as e:
        raise RestampError(f"the model does not check at opset {opset(model)}: {str(e).splitlines()[0]}") from None
    return model


def _fits_schema(node: onnx.NodeProto, version: int) -> bool:
    """The node only uses attributes and inputs the older definition has (the checker then judges the types)."""
    schema = onnx.defs.get_schema(node.op_type, version)
    return {a.name for a in node.attribute} <= set(schema.attributes) and len(node.input) <= len(schema.inputs)


class RestampError(Exception):
    pass


def freeze(model: onnx.ModelProto, inputs: list[np.ndarray]) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """Graph inputs that feed an op's non-data slots become initializers; returns the model and its remaining
    inputs' values."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    consts = {i.name for i in m.graph.initializer}
    real = [i for i in m.graph.input if i.name not in consts]
    data_slots = set()
    for node in m.graph.node:
        for k, name in enumerate(node.input):
            if k == 0 or node.op_type in ALL_DATA:
                data_slots.add(name)
    keep, values = [], []
    for vi, x in zip(real, inputs):
        if vi.name in data_slots:
            keep.append(vi)
            values.append(x)
        else:
            m.graph.initializer.append(numpy_helper.from_array(np.asarray(x), vi.name))
    others = [i for i in m.graph.input if i.name in consts]
    m.graph.ClearField("input")
    m.graph.input.extend(keep + others)
    return m, values


def run_case(d: Path, with_c: bool = False, tmp: Path | None = None) -> tuple[bool, str]:
    """(passed, one-line reason). Every data set must match at the case's tolerance."""
    from edgec import driver, host, reference, validate
    from edgec.errors import EdgecError
    from edgec.importers.onnx import import_onnx_model
    from edgec.passes import canonicalize, fold_transposes, fuse_activations
    from edgec.verifier import verify

    tol = json.loads((d / "tolerance.json").read_text()) if (d / "tolerance.json").is_file() else {}
    rtol, atol = tol.get("rtol", 1e-3), tol.get("atol", 1e-7)
    try:
        model = restamp(onnx.load(d / "model.onnx"))
    except RestampError as e:
        return False, str(e)
    sets = load_data(d)
    if not sets:
        return False, "the case has no data set"
    for k, (inputs, expected) in enumerate(sets):
        frozen, values = freeze(model, inputs)
        try:
            g = verify(import_onnx_model(frozen, d.name + ".onnx"))
            g = verify(canonicalize(fold_transposes(fuse_activations(g))))
        except EdgecError as e:
            return False, _one_line(e.message)
        sample = [_to_edgec(g, name, x) for name, x in zip(g.inputs, values)]
        try:
            ours_all = reference.run_numpy(g, sample)
        except Exception as e:  # a reference that is missing or refuses: report, do not crash the run
            return False, f"numpy reference failed: {type(e).__name__}: {_one_line(str(e))}"
        ours = [_from_edgec(g, name, ours_all[name]) for name in g.outputs]
        bad = _mismatch(ours, expected, rtol, atol)
        if bad:
            return False, f"data set {k}: numpy {bad}"
        if with_c:
            assert tmp is not None
            path = tmp / f"{d.name}_{k}.onnx"
            onnx.save(frozen, path)
            try:
                b = driver.build(path, tmp / f"{d.name}_{k}", conversion=driver.Conversion(dtype="float32"))
                exe = host.build(b.out, b.sources, sanitize=True)
                raw = validate.split_outputs(host.run(exe, [sample]), b.graph, 1)[0]
            except EdgecError as e:
                return False, f"data set {k}: C: {_one_line(e.message)}"
            bad = _mismatch([_from_edgec(b.graph, n, x) for n, x in zip(b.graph.outputs, raw)], expected, rtol, atol)
            if bad:
                return False, f"data set {k}: C {bad}"
    return True, ""


def _to_edgec(g, name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if g.meta.get("input_layouts", {}).get(name) == "NCHW":
        x = x.transpose(0, 2, 3, 1)
    if name in g.meta.get("uint8_as_int8", []):  # edgec holds uint8 q as int8 q - 128
        x = x.astype(np.int16) - 128
    return np.ascontiguousarray(x.astype(g.t(name).dtype)).reshape(g.t(name).shape)


def _from_edgec(g, name: str, y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if g.meta.get("output_layouts", {}).get(name) == "NCHW":
        y = y.transpose(0, 3, 1, 2)
    if name in g.meta.get("uint8_as_int8", []):
        y = (y.astype(np.int16) + 128).astype(np.uint8)
    return y


def _mismatch(ours: list[np.ndarray], expected: list[np.ndarray], rtol: float, atol: float) -> str:
    if len(ours) != len(expected):
        return f"gives {len(ours)} outputs, expected {len(expected)}"
    for j, (a, e) in enumerate(zip(ours, expected)):
        e = np.asarray(e)
        if a.size != e.size:
            return f"output {j} has {a.size} values, expected {e.size}"
        a = a.reshape(e.shape).astype(np.float64)
        if not np.allclose(a, e.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True):
            err = float(np.max(np.abs(a - e)))
            return f"output {j} differs: max |diff| {err:.3g} (rtol {rtol}, atol {atol})"
    return ""


def _one_line(msg: str) -> str:
    lines = [ln.strip(" -") for ln in msg.strip().splitlines() if ln.strip()]
    body = [ln for ln in lines if not ln.startswith("the model uses") and not ln.startswith("run `edgec ops`")]
    text = (body or lines or ["?"])[0].split(" (edgec maps the ONNX ops")[0]
    return text if len(text) <= 200 else text[:197] + "..."


def main_op(d: Path) -> str:
    model = onnx.load(d / "model.onnx")
    ops = supported_ops()
    names = [n.op_type for n in model.graph.node]
    return next((o for o in names if o in ops), names[0] if names else "?")


# ---- the list -----------------------------------------------------------------------------------------------------

def read_list() -> dict[str, dict]:
    return tomllib.loads(LIST.read_text())["cases"] if LIST.is_file() else {}


def write_list(results: dict[str, dict]) -> None:
    lines = ["# ONNX backend node tests (regenerated from the onnx wheel) and pytorch-converted depthwise cases,",
             "# run through edgec's float path (numpy float32 references; `c = true`: the generated C too, under",
             "# ASan/UBSan). Written by `python tests/onnx_node_tests.py`; checked by",
             "# tests/host/test_onnx_conformance.py: a `pass` case must pass, an `excluded` case must still fail",
             f"# (so the list stays true). onnx {onnx.__version__}. Reasons are edgec's own first error line.", ""]
    for name, r in sorted(results.items()):
        lines.append(f"[cases.{json.dumps(name)}]")
        lines.append(f"op = {json.dumps(r['op'])}")
        lines.append(f"status = {json.dumps(r['status'])}")
        if r.get("c"):
            lines.append("c = true")
        if r.get("reason"):
            lines.append(f"reason = {json.dumps(r['reason'])}")
        lines.append("")
    LIST.write_text("\n".join(lines))


def main() -> None:
    import tempfile

    dirs = case_dirs()
    results: dict[str, dict] = {}
    c_per_op: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, d in dirs.items():
            op = main_op(d)
            ok, reason = run_case(d)
            entry: dict = dict(op=op, status="pass" if ok else "excluded")
            if ok and c_per_op.get(op, 0) < C_SUBSET_PER_OP:
                ok_c, reason_c = run_case(d, with_c=True, tmp=Path(tmp))
                if ok_c:
                    entry["c"] = True
                    c_per_op[op] = c_per_op.get(op, 0) + 1
                else:
                    print(f"{name}: C failed: {reason_c}", file=sys.stderr)
            if not ok:
                entry["reason"] = reason
            results[name] = entry
            print(f"{entry['status']:8} {name} {reason}", file=sys.stderr)
    write_list(results)
    n_pass = sum(r["status"] == "pass" for r in results.values())
    print(f"{n_pass} pass, {len(results) - n_pass} excluded, {sum(bool(r.get('c')) for r in results.values())} "
          f"with C; written to {LIST}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
