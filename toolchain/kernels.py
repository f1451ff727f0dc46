"""The kernel choice: per layer, the portable C kernel or a faster one the board's core can run.

The portable kernels (runtime/<op>_s8.c) are the reference: plain C99, TFLite Micro's integer maths, every core
and the host. A core with the DSP extension (Cortex-M4, M7, M33, M55) also has kernels written with its SIMD
multiply-accumulates (runtime/*_dsp.c, through runtime/edgec_acle.h), and the Cortex-M55 with Helium (MVE) kernels
written with arm_mve.h (runtime/*_mve.c, through runtime/edgec_mve.h); each operator's module decides which of its
layers one fits (`Operator.choose_kernel`: shape, stride, groups...). The choice and its reason are stored in
op.attrs["kernel_choice"] (plain data, so the IR dump shows it) and reported per layer in report.json (`kernel`,
`kernel_reason`). Every fast kernel computes the same bytes as the portable one (tests compare them, and whole
models against TFLite Micro, at 0 LSB), so the choice changes speed, code size and scratch, never results.

`--kernels portable` keeps the portable kernels everywhere (the reference, and what a measurement compares with);
`--kernels dsp` chooses as if the core had no Helium (MVE): the DSP kernels on a Cortex-M55, for comparing the two.

`--optimize speed` (the default) takes the fast kernels, and the int16 weight copies where they fit (below);
`--optimize size` keeps the portable kernels everywhere and makes no int16 copies: every fast kernel only adds flash
(its own code, and per layer an output stage, a folded bias, int16 or compacted weight copies), so the portable
build is the smallest one edgec can make (ad01_int8 on the NUCLEO-L4R5ZI: 274,940 B against 834,828 B).
"""

from __future__ import annotations

from dataclasses import replace

from .board import Board
from .ir import Graph, Op
from .ops import REGISTRY
from .ops.add import TABLES_META
from .ops.base import KernelTarget, constant_bytes, is_float, is_int16
from .ops.int4_common import INT4_KERNELS, int4_weights

MODES = ("auto", "portable", "dsp")
OPTIMIZE = ("speed", "size")


def kernel_target(board: Board, flash_budget: int | None = None) -> KernelTarget:
    """The core's kernels and the flash the int16 weight copies are weighed against: the board's, or --flash-budget
    when it is smaller."""
    if not board.is_cortexm:
        return KernelTarget(core="host", dsp=False, mve=False)
    flash = board.flash_bytes if flash_budget is None else min(board.flash_bytes, flash_budget)
    return KernelTarget(core=board.core, dsp=board.dsp, mve=board.mve, flash_bytes=flash)


def weights16_bytes(g: Graph) -> tuple[int, int]:
    """(all the model's constant bytes, the int8 weight bytes of its DSP conv and FC layers): what the int16 copies
    cost (`conv_weights16_fit`)."""
    def nbytes(name: str | None) -> int:
        data = g.t(name).data if name else None
        return 0 if data is None else int(data.nbytes)

    total = constant_bytes(g)
    widened = sum(nbytes(op.inputs[1]) for op in g.ops
                  if op.attrs.get("kernel_choice", {}).get("kernel") in ("conv2d_s8_dsp", "fully_connected_s8_dsp"))
    return total, widened


def conv_weights16_fit(g: Graph, target: KernelTarget, table_bytes: int = 0) -> bool:
    """Whether the DSP conv and FC layers may keep a second, int16 copy of their weights in flash
    (runtime/conv2d_s8_dsp.h `weights16`, edgec_fully_connected_s8_dsp_w16: no weight SXTB16 in the inner loops):
    when all the model's constant bytes plus twice those layers' weights fill at most half the flash (the board's,
    or --flash-budget when smaller), so the copy never makes a model that fits without it miss the board
    (vww_96_int8, 219 KB of constants, 613 KB with the copy, and ad01_int8, 799 KB: on 2 MB boards, not on 1 MB
    ones). The ADD/SUB layers' lookup tables (`table_bytes`, chosen first: ops/add.py table_pays) count as
    constants."""
    if not target.dsp or target.mve or not target.flash_bytes:
        return False
    total, widened = weights16_bytes(g)
    return total + table_bytes + 2 * widened <= target.flash_bytes // 2


def select_kernels(g: Graph, target: KernelTarget, mode: str = "auto", optimize: str = "speed") -> Graph:
    """Stores each int8 layer's fast kernel choice in op.attrs["kernel_choice"] (mode "auto"; "dsp": as if the core
    had no MVE); "portable", or optimize "size", clears every choice. Float32 layers keep their portable kernels."""
    assert mode in MODES and optimize in OPTIMIZE, (mode, optimize)
    if mode == "dsp":
        target = replace(target, mve=False)
    portable = mode == "portable" or optimize == "size"
    g.meta.pop(TABLES_META, None)  # the tables ADD/SUB layers chose so far (ops/add.py table_pays)
    for op in g.ops:
        op.attrs.pop("kernel_choice", None)
        op.attrs.pop("portable_reason", None)
        # no DSP kernel reads int4 weights or int16 activations
        if portable or is_float(op, g) or is_int16(op, g) or int4_weights(op, g):
            continue
        choice = REGISTRY[op.type].choose_kernel(op, g, target)
        if choice is not None:
            op.attrs["kernel_choice"] = dict(kernel=choice.kernel, function=choice.function, reason=choice.reason)
    tables = g.meta.pop(TABLES_META, {}).get("bytes", 0)
    total, widened = weights16_bytes(g)
    total += tables
    g.meta["kernels"] = dict(mode=mode, optimize=optimize, core=target.core, dsp=target.dsp, mve=target.mve,
                             conv_weights16=not portable and conv_weights16_fit(g, target, tables),
                             constant_bytes=total, weights16_bytes=2 * widened, flash_bytes=target.flash_bytes,
                             table_bytes=tables)
    return g


def kernel_of(op: Op, g: Graph) -> tuple[str | None, str]:
    """(the C function family the layer runs, why): for report.json's per-layer `kernel` and `kernel_reason`."""
    chosen = op.attrs.get("kernel_choice")
    settings = g.meta.get("kernels", {})
    if chosen and "patch" not in op.attrs:
        return chosen["function"], (chosen["reason"] + _weights16_note(chosen["kernel"], settings) + _fc_note(op, g)
                                   + _pointwise_note(op, g))
    if int4_weights(op, g):
        return f"edgec_{INT4_KERNELS[op.type]}", "int4 weights: packed in flash, one output channel unpacked at a time"
    portable = REGISTRY[op.type].kernel_for(op, g)
    if portable is None:
        return None, "no kernel: the output is the input's memory (no data moves)"
    if "patch" in op.attrs:
        why = "patch stage: the portable kernel over one region per patch"
    elif settings.get("mode") == "portable":
        why = "--kernels portable"
    elif settings.get("optimize") == "size" and not is_float(op, g) and not is_int16(op, g):
        why = ("--optimize size: the portable kernel, the smallest flash (a fast kernel adds its code and the "
               "layer's compile-time constants)")
    elif "portable_reason" in op.attrs:
        why = op.attrs["portable_reason"]
    elif is_float(op, g):
        why = "float32: the portable float kernel"
    elif is_int16(op, g):
        why = "int16 (16x8): the portable int16 kernel"
    elif settings.get("core", "host") == "host":
        why = "host: no host kernel for this layer's op or shape: the portable C kernel"
    elif not settings.get("dsp"):
        why = f"{settings.get('core')}: no DSP extension, the portable C kernel"
    else:
        why = "no faster kernel for this layer's op or shape: the portable C kernel"
    return f"edgec_{portable}", why


def _weights16_note(kernel: str, settings: dict) -> str:
    """For a DSP conv or FC layer: whether its int16 weight copy was made, with the flash rule's numbers."""
    if kernel not in ("conv2d_s8_dsp", "fully_connected_s8_dsp") or not settings.get("flash_bytes"):
        return ""
    need = settings.get("constant_bytes", 0) + settings.get("weights16_bytes", 0)
    half = settings["flash_bytes"] // 2
    if settings.get("conv_weights16"):
        return (f"; int16 weight copies: constants + copies {need:,} B fit half the flash ({half:,} B), where the "
                "layer's output stage allows")
    return f"; int8 weights: constants + int16 copies would be {need:,} B, over half the flash ({half:,} B)"


def _pointwise_note(op: Op, g: Graph) -> str:
    """For a DSP pointwise conv layer run as an FC over its pixels (conv2d.pointwise_records): that form."""
    if op.attrs.get("kernel_choice", {}).get("function") != "edgec_conv2d_s8_pointwise_dsp":
        return ""
    from .ops.conv2d import pointwise_records

    if pointwise_records(op, g) is None:
        return ""
    return ("; run instead as a fully connected layer over the pixels from compile-time records "
            "(edgec_conv2d_s8_pointwise_dsp_rec: C_in <= 8 a pixel's inputs in registers and one LDM per channel, "
            "else blocks of 4 channels on each pixel's inputs widened once)")


def _fc_note(op: Op, g: Graph) -> str:
    """For a DSP FC layer: which of its kernel's forms the code generator calls (fully_connected.dsp_fc_records_for)."""
    if op.attrs.get("kernel_choice", {}).get("kernel") != "fully_connected_s8_dsp":
        return ""
    from .ops.fully_connected import dsp_fc_records_for
    from .ops.int8_common import dsp_output_stage, folded_bias

    _, why = dsp_fc_records_for(op, g, dsp_output_stage(op, g, 0, folded_bias(op, g, 0)))
    return f"; {why}"
