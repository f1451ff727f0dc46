"""IR + memory plan -> the output folder (docs/output.md: model.h, model.c, weights.c, runtime/, main.c, build files).

Each op module emits its own call through `EmitContext` (c_emit.py), which hands out C expressions for tensors (an
arena offset for activations, a const array in weights.c for constants) and collects the const parameter structs;
the layers of a patch stage come from patch_emit.py. Templates live in toolchain/templates (jinja2); the runtime
kernels are copied from the package's runtime/.
"""

from __future__ import annotations

import functools
import re
import shutil
from importlib import resources
from pathlib import Path

import jinja2
import numpy as np

from .c_emit import EmitContext
from .c_text import CNames, c_comment_text, identifier_part
from .ir import C_TYPES, Graph
from .memory import MemoryPlan
from .ops import REGISTRY
from .patch_emit import stage_layer

COMMON_RUNTIME = ["edgec_fixedpoint.h", "edgec_broadcast.h", "edgec_region.h", "edgec_float.h"]
#: copied only when a chosen fast kernel includes it (a host build stays as it was)
DSP_RUNTIME = ["edgec_acle.h", "edgec_dsp_out.h"]
# what the Helium kernels (*_mve.c, chosen for an MVE core only) include besides their own header
MVE_RUNTIME = ["edgec_mve.h"]
#: copied when a layer has int4 weights (the *_s4 kernels)
INT4_RUNTIME = ["edgec_int4.h"]
#: the integer LSTM kernels' shared parameters and unit step (lstm_s8, lstm_s16)
LSTM_RUNTIME = ["lstm_common.h"]
HOST_RUNTIME = ["edgec_host.h"]  # the host kernels' output stage (runtime/<op>_host.c)
#: copied for a training graph (toolchain/train/graph.py)
TRAINING_RUNTIME = ["edgec_train.h"]
#: runtime/edgec_param_store.{c,h}: a training graph's parameters saved to flash, safe against power loss
PARAM_STORE = "edgec_param_store"


def _training(g: Graph, ctx: EmitContext) -> dict | None:
    """What the templates need of a training graph: where the forward pass ends (a negative label runs only it),
    the seed of the stochastic-rounding generator, and the trained parameters (the harness writes them back)."""
    meta = g.meta.get("training")
    if meta is None:
        return None
    from .train.run import seed_state

    params = [dict(symbol=ctx.ptr(n), nbytes=g.t(n).sram_nbytes, name=c_comment_text(n)) for n in meta["params"]]
    return dict(forward_ops=meta["forward_ops"], rng_state=seed_state(meta["seed"]), params=params)


def c_array_body(a: np.ndarray, per_line: int = 24) -> str:
    flat = np.asarray(a).reshape(-1)
    if flat.dtype == np.float64:  # doubles (the host's vector output stage): repr round-trips exactly
        items = [repr(float(v)) for v in flat]
    elif flat.dtype.kind == "f":
        items = [_float_literal(float(v)) for v in flat.astype(np.float32)]
    elif flat.dtype == np.int32:
        # INT32_MIN has no literal form in C: write it as an expression
        items = ["(-2147483647 - 1)" if v == -(2**31) else str(v) for v in flat.tolist()]
    else:
        items = [str(v) for v in flat.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(lines) if lines else "0"


def _float_literal(v: float) -> str:
    """A float32 constant as C: repr round-trips exactly; inf and NaN through <math.h> (weights.c includes it)."""
    if np.isnan(v):
        return "NAN"
    if np.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return f"{v!r}f"


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("edgec", "templates"), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _io(g: Graph, names: list[str], ctx: EmitContext) -> list[dict]:
    out = []
    for n in names:
        t = g.t(n)
        out.append(dict(name=c_comment_text(t.name), ctype=C_TYPES[t.dtype], size=t.size, nbytes=t.nbytes,
                        shape=list(t.shape),
                        offset=ctx.plan.offset(n), scale=float(t.scale) if t.quant is not None else 1.0,
                        zero_point=t.zero_point))
    return out


@functools.cache
def _runtime_identifiers() -> frozenset[str]:
    """Every `edgec_...` / `EDGEC_...` name of the runtime, the Cortex-M harness and the templates: names a
    model's symbols must never take."""
    names: set[str] = set()
    for folder in (resources.files("edgec.runtime"), resources.files("edgec.targets") / "cortexm",
                   resources.files("edgec") / "templates"):
        for entry in folder.iterdir():
            if entry.name.endswith((".c", ".h", ".j2")):
                names.update(re.findall(r"\b[Ee][Dd][Gg][Ee][Cc]_\w+", entry.read_text()))
    return frozenset(names)


def model_prefix(name: str) -> str:
    """The C prefix of a model's API and symbols, `edgec_<model name>` (lower case; the header guard is its upper
    case). A name whose prefix would meet a runtime name, e.g. a model file called `transpose.tflite` against
    the kernel header guard EDGEC_TRANSPOSE_H, becomes `edgec_model_<name>` instead."""
    stem = identifier_part(name).lower() or "model"
    taken = {n.lower() for n in _runtime_identifiers()}
    prefix, k = f"edgec_{stem}", 0
    while prefix in taken or any(n.startswith(prefix + "_") for n in taken):
        prefix, k = f"edgec_model{k or ''}_{stem}", k + 1
    return prefix


def emit_c(g: Graph, plan: MemoryPlan, out_dir: Path) -> list[str]:
    """Write model.h, model.c, weights.c, runtime/, main.c, Makefile, CMakeLists.txt. Returns the C sources."""
    prefix = model_prefix(g.name)
    ctx = EmitContext(g=g, plan=plan, prefix=prefix, names=CNames(_runtime_identifiers()),
                      op_index={op.name: k for k, op in reversed(list(enumerate(g.ops)))})
    layers = []
    stage = plan.patch.stage if plan.patch is not None else range(0)
    for k, op in enumerate(g.ops):
        impl = REGISTRY[op.type]
        if k in stage:
            layers.append(stage_layer(k, op, g, ctx, plan.patch))
            continue
        call = impl.run_emit(op, g, ctx)
        # an op without outputs (a training graph's update of the lowest trained layer) still marks its end
        traces = [dict(ptr=ctx.ptr(o), nbytes=g.t(o).nbytes) for o in op.outputs] or [dict(ptr="NULL", nbytes=0)]
        layers.append(dict(index=k, op=op, label=c_comment_text(op.attrs.get("label", op.name)), call=call,
                           traces=traces))
    kernels = sorted({kern for op in g.ops for kern in REGISTRY[op.type].kernels_for(op, g)})
    training = _training(g, ctx)
    if training is not None:  # the flash store of the trained parameters (<prefix>_params_load / _save)
        kernels.append(PARAM_STORE)
    env = _env()
    guard = prefix.upper()
    common = dict(g=g, model_name=c_comment_text(g.name), prefix=prefix, guard=guard, arena_bytes=plan.arena_bytes,
                  layers=layers, kernels=kernels, training=training,
                  inputs=_io(g, g.inputs, ctx), outputs=_io(g, g.outputs, ctx), structs=ctx.structs,
                  consts=list(ctx.consts.values()), c_array_body=c_array_body,
                  states=list(ctx.states.values()), state_bytes=sum(a.nbytes for a in ctx.states.values()),
                  nonfinite_consts=any(c.data.dtype.kind == "f" and not np.all(np.isfinite(c.data))
                                       for c in ctx.consts.values()))
    out_dir.mkdir(parents=True, exist_ok=True)
    for template, target in [("model.h.j2", "model.h"), ("model.c.j2", "model.c"), ("weights.c.j2", "weights.c"),
                             ("weights.h.j2", "weights.h"), ("main_host.c.j2", "main.c"), ("Makefile.j2", "Makefile"),
                             ("CMakeLists.txt.j2", "CMakeLists.txt")]:
        (out_dir / target).write_text(env.get_template(template).render(**common))
    runtime_dir = out_dir / "runtime"
    runtime_dir.mkdir(exist_ok=True)
    src = resources.files("edgec.runtime")
    needed = COMMON_RUNTIME + [f"{k}.{ext}" for k in kernels for ext in ("h", "c")]
    if training is not None:
        needed += TRAINING_RUNTIME
    if any(k.endswith("_dsp") for k in kernels):
        needed += DSP_RUNTIME
    if any(k.endswith("_mve") for k in kernels):
        needed += MVE_RUNTIME
    if any(k.endswith("_s4") for k in kernels):
        needed += INT4_RUNTIME
    if any(k.endswith("_host") for k in kernels):
        needed += HOST_RUNTIME
    if any(k in ("lstm_s8", "lstm_s16") for k in kernels):
        needed += LSTM_RUNTIME
    for fname in needed:
        with resources.as_file(src / fname) as p:
            shutil.copyfile(p, runtime_dir / fname)
    return ["model.c", "weights.c", "main.c"] + [f"runtime/{k}.c" for k in kernels]
