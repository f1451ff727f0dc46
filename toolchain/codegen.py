"""IR + memory plan -> the output folder of DESIGN.md (model.h, model.c, weights.c, runtime/, main.c, build files).

Each op module emits its own call through `EmitContext`, which hands out C expressions for tensors (an arena
offset for activations, a const array in weights.c for constants) and collects the const parameter structs.
Templates live in toolchain/templates (jinja2); the runtime kernels are copied from the package's runtime/.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2
import numpy as np

from .ir import C_TYPES, Graph, Op
from .memory import MemoryPlan
from .ops import REGISTRY

COMMON_RUNTIME = ["edgec_fixedpoint.h", "edgec_broadcast.h", "edgec_region.h"]


def c_identifier(s: str) -> str:
    s = re.sub(r"[^0-9A-Za-z_]", "_", s)
    return s if s and not s[0].isdigit() else f"_{s}"


def c_array_body(a: np.ndarray, per_line: int = 24) -> str:
    flat = np.asarray(a).reshape(-1)
    if flat.dtype.kind == "f":
        items = [f"{float(v)!r}f" if np.isfinite(v) else "0.0f" for v in flat.astype(np.float32)]
    elif flat.dtype == np.int32:
        # INT32_MIN has no literal form in C: write it as an expression
        items = ["(-2147483647 - 1)" if v == -(2**31) else str(v) for v in flat.tolist()]
    else:
        items = [str(v) for v in flat.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(lines) if lines else "0"


@dataclass
class ConstArray:
    symbol: str
    ctype: str
    data: np.ndarray
    comment: str = ""


@dataclass
class EmitContext:
    g: Graph
    plan: MemoryPlan
    prefix: str
    consts: dict[str, ConstArray] = field(default_factory=dict)  # tensor name or symbol -> array
    structs: list[str] = field(default_factory=list)

    def ptr(self, tensor: str | None) -> str:
        """C expression for a tensor's first element, typed after its dtype."""
        if tensor is None:
            return "NULL"
        t = self.g.t(tensor)
        ctype = C_TYPES[t.dtype]
        if t.is_const:
            if tensor not in self.consts:
                symbol = f"{self.prefix}_w{len(self.consts)}_{c_identifier(t.name)[-40:]}"
                self.consts[tensor] = ConstArray(symbol, ctype, t.data, f"{t.name} {list(t.shape)} {t.dtype}")  # type: ignore[arg-type]
            return self.consts[tensor].symbol
        return f"(({ctype} *)(edgec_arena.bytes + {self.plan.offset(tensor)}))"

    def const_array(self, op: Op, field_name: str, data: np.ndarray, ctype: str = "int32_t") -> str:
        """A compile-time array (multipliers, shifts, tables) placed in flash; returns its symbol."""
        symbol = f"{self.prefix}_{op.name}_{field_name}"
        self.consts[symbol] = ConstArray(symbol, ctype, np.asarray(data), f"{op.name} {field_name}")
        return symbol

    def params_struct(self, op: Op, ctype: str, fields: dict) -> str:
        """A `static const` parameter struct in model.c (flash), with designated initializers."""
        symbol = f"{op.name}_params"
        body = ",\n    ".join(f".{k} = {v}" for k, v in fields.items())
        self.structs.append(f"static const {ctype} {symbol} = {{\n    {body}\n}};")
        return symbol


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("edgec", "templates"), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _io(g: Graph, names: list[str], ctx: EmitContext) -> list[dict]:
    out = []
    for n in names:
        t = g.t(n)
        out.append(dict(name=t.name, ctype=C_TYPES[t.dtype], size=t.size, nbytes=t.nbytes, shape=list(t.shape),
                        offset=ctx.plan.offset(n), scale=float(t.scale) if t.quant is not None else 1.0,
                        zero_point=t.zero_point))
    return out


def emit_c(g: Graph, plan: MemoryPlan, out_dir: Path) -> list[str]:
    """Write model.h, model.c, weights.c, runtime/, main.c, Makefile, CMakeLists.txt. Returns the C sources."""
    prefix = f"edgec_{c_identifier(g.name).lower()}"
    ctx = EmitContext(g=g, plan=plan, prefix=prefix)
    layers = []
    for k, op in enumerate(g.ops):
        impl = REGISTRY[op.type]
        call = impl.run_emit(op, g, ctx)
        traces = [dict(ptr=ctx.ptr(o), nbytes=g.t(o).nbytes) for o in op.outputs]
        layers.append(dict(index=k, op=op, label=op.attrs.get("label", op.name), call=call, traces=traces))
    kernels = sorted({kern for op in g.ops if (kern := REGISTRY[op.type].kernel_for(op, g)) is not None})
    env = _env()
    guard = prefix.upper()
    common = dict(g=g, prefix=prefix, guard=guard, arena_bytes=plan.arena_bytes, layers=layers, kernels=kernels,
                  inputs=_io(g, g.inputs, ctx), outputs=_io(g, g.outputs, ctx), structs=ctx.structs,
                  consts=list(ctx.consts.values()), c_array_body=c_array_body)
    out_dir.mkdir(parents=True, exist_ok=True)
    for template, target in [("model.h.j2", "model.h"), ("model.c.j2", "model.c"), ("weights.c.j2", "weights.c"),
                             ("weights.h.j2", "weights.h"), ("main_host.c.j2", "main.c"), ("Makefile.j2", "Makefile"),
                             ("CMakeLists.txt.j2", "CMakeLists.txt")]:
        (out_dir / target).write_text(env.get_template(template).render(**common))
    runtime_dir = out_dir / "runtime"
    runtime_dir.mkdir(exist_ok=True)
    src = resources.files("edgec.runtime")
    needed = COMMON_RUNTIME + [f"{k}.{ext}" for k in kernels for ext in ("h", "c")]
    for fname in needed:
        with resources.as_file(src / fname) as p:
            shutil.copyfile(p, runtime_dir / fname)
    return ["model.c", "weights.c", "main.c"] + [f"runtime/{k}.c" for k in kernels]
