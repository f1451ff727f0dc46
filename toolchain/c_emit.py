"""What an operator's `emit` writes C with: `EmitContext` (a C expression for each tensor, const arrays in flash,
parameter structs) and the initializer helpers (`c_list`, `designated`).

The op modules, the patch stage's emitter (patch_emit.py) and codegen.py all use these, so they live below all
three: this module imports only the IR and c_text, never the planner (the context reads the memory plan through
`ArenaPlan`, the three questions an op asks of it) nor an op. It is not c_text.py: that module has one job, the
only ways model text may reach generated files (sanitized comments, generated identifiers), and keeping it to
that job keeps the rule easy to audit; this one formats edgec's own numbers and symbols into C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .c_text import CNames, c_comment_text, sanitize
from .int4 import pack_int4
from .ir import C_TYPES, Graph, Op


class ArenaPlan(Protocol):
    """Where the memory plan (memory.MemoryPlan) put activations: what an emitted call needs of it."""

    def offset(self, tensor: str) -> int: ...

    def scratch_offset(self, op_name: str) -> int: ...

    def is_in_place(self, op_name: str) -> bool: ...


def c_list(values) -> str:
    """A C brace initializer for an int32_t array field."""
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def designated(fields: dict, indent: str = "    ") -> str:
    """A C99 designated initializer `{ .a = 1, .b = 2 }`, one field per line at `indent`."""
    return "{\n" + ",\n".join(f"{indent}.{k} = {v}" for k, v in fields.items()) + "\n" + indent[4:] + "}"


@dataclass
class ConstArray:
    symbol: str
    ctype: str
    data: np.ndarray
    comment: str = ""
    mutable: bool = False  # a trained parameter: in SRAM (no `const`), initialized from `data` at boot


@dataclass
class StateArray:
    """A state tensor's SRAM array (model.c, `static`): `<prefix>_reset()` fills it with `reset` (its zero point)."""

    symbol: str
    ctype: str
    size: int
    nbytes: int
    reset: int
    comment: str = ""


@dataclass
class EmitContext:
    """Model text never becomes C here: symbols come from `names` (generated identifiers, collision-free), and
    a name appears only in a comment through c_comment_text (c_text.py)."""

    g: Graph
    plan: ArenaPlan
    prefix: str
    consts: dict[str | tuple[str, str], ConstArray] = field(default_factory=dict)  # tensor or (op, field) -> array
    structs: list[str] = field(default_factory=list)
    names: CNames = field(default_factory=CNames)
    op_index: dict[str, int] = field(default_factory=dict)  # op name -> its index (the generated stem op_<k>)
    states: dict[str, StateArray] = field(default_factory=dict)  # state tensor -> its SRAM array in model.c

    def stem(self, op: Op) -> str:
        return self.names.stem(op.name, self.op_index.get(op.name, len(self.op_index)))

    def ptr(self, tensor: str | None) -> str:
        """C expression for a tensor's first element, typed after its dtype."""
        if tensor is None:
            return "NULL"
        t = self.g.t(tensor)
        ctype = C_TYPES[t.dtype]
        if t.state:  # its own array outside the arena, kept between invocations (ir.Tensor.state)
            if tensor not in self.states:
                symbol = self.names.claim(f"{self.prefix}_state{len(self.states)}")
                self.states[tensor] = StateArray(symbol, ctype, t.size, t.nbytes, t.zero_point,
                                                 f"{c_comment_text(t.name)} {list(t.shape)} {t.dtype}")
            return self.states[tensor].symbol
        if t.is_const:
            if tensor not in self.consts:
                symbol = self.names.claim(f"{self.prefix}_w{len(self.consts)}_{sanitize(t.name)[-40:]}")
                comment = f"{c_comment_text(t.name)} {list(t.shape)} {t.dtype}"
                data = t.data
                if t.dtype == "int4" and t.data is not None:  # flash holds the bytes, two values a byte (int4.py)
                    comment += " packed two per byte"
                    data = pack_int4(t.data)
                if t.mutable_channels:  # only the trained slice in SRAM; the frozen rest: frozen_ptr
                    c = t.mutable_channels
                    comment += f" channels 0..{c - 1} of the last axis (trained, SRAM)"
                    data = np.ascontiguousarray(np.asarray(data)[..., :c])
                self.consts[tensor] = ConstArray(symbol, ctype, data, comment,  # type: ignore[arg-type]
                                                 mutable=t.mutable)
            return self.consts[tensor].symbol
        return f"(({ctype} *)(edgec_arena.bytes + {self.plan.offset(tensor)}))"

    def frozen_ptr(self, tensor: str) -> str:
        """The flash array of the frozen channels of a partially trained tensor (Tensor.mutable_channels: the
        last axis's entries from mutable_channels on, in the tensor's order), or NULL when it has none."""
        t = self.g.t(tensor)
        if not (t.mutable and t.mutable_channels) or t.data is None:
            return "NULL"
        key = (tensor, "frozen")
        if key not in self.consts:
            symbol = self.names.claim(f"{self.prefix}_w{len(self.consts)}_{sanitize(t.name)[-33:]}_frozen")
            c = t.mutable_channels
            self.consts[key] = ConstArray(symbol, C_TYPES[t.dtype], np.ascontiguousarray(np.asarray(t.data)[..., c:]),
                                          f"{c_comment_text(t.name)} {list(t.shape)} {t.dtype} channels "
                                          f"{c}..{t.shape[-1] - 1} of the last axis (frozen, flash)")
        return self.consts[key].symbol

    def const_array(self, op: Op, field_name: str, data: np.ndarray, ctype: str = "int32_t") -> str:
        """A compile-time array (multipliers, shifts, tables) placed in flash; returns its symbol."""
        key = (op.name, field_name)  # the patch stage emits an op once per tile width: one array
        symbol = self.consts[key].symbol if key in self.consts else self.names.claim(
            f"{self.prefix}_{self.stem(op)}_{field_name}")
        self.consts[key] = ConstArray(symbol, ctype, np.asarray(data), f"{c_comment_text(op.name)} {field_name}")
        return symbol

    def shared_const_array(self, op: Op, field_name: str, data: np.ndarray, ctype: str = "int32_t") -> str:
        """A compile-time array like const_array, emitted once for all the layers whose data is the same bytes
        (ADD/SUB's rescale tables: the same input scale, zero point and stage give the same table): the first
        layer names it, the comment lists every layer that reads it; returns its symbol."""
        data = np.asarray(data)
        key = (f"shared {ctype} {data.dtype.str} {list(data.shape)}", data.tobytes().hex())
        user = f"{c_comment_text(op.name)} {field_name}"
        if key in self.consts:
            shared = self.consts[key]
            if user not in shared.comment.split("; "):
                shared.comment += f"; {user}"
            return shared.symbol
        symbol = self.names.claim(f"{self.prefix}_{self.stem(op)}_{field_name}")
        self.consts[key] = ConstArray(symbol, ctype, data, user)
        return symbol

    def params_struct(self, op: Op, ctype: str, fields: dict) -> str:
        """A `static const` parameter struct in model.c (flash), with designated initializers."""
        symbol = self.names.claim(f"{self.stem(op)}_params")
        self.structs.append(f"static const {ctype} {symbol} = {designated(fields)};")
        return symbol
