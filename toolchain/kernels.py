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
"""

from __future__ import annotations

from dataclasses import replace

from .board import Board
from .ir import Graph, Op
from .ops import REGISTRY
from .ops.base import KernelTarget, is_float, is_int16
from .ops.int4_common import INT4_KERNELS, int4_weights

MODES = ("auto", "portable", "dsp")


def kernel_target(board: Board) -> KernelTarget:
    if not board.is_cortexm:
        return KernelTarget(core="host", dsp=False, mve=False)
    return KernelTarget(core=board.core, dsp=board.dsp, mve=board.mve, flash_bytes=board.flash_bytes)


def conv_weights16_fit(g: Graph, target: KernelTarget) -> bool:
    """Whether the DSP conv and FC layers may keep a second, int16 copy of their weights in flash
    (runtime/conv2d_s8_dsp.h `weights16`, edgec_fully_connected_s8_dsp_w16: no weight SXTB16 in the inner loops):
    when all the model's constant bytes plus twice those layers' weights fill at most half the board's flash, so the
    copy never makes a model that fits without it miss the board (vww_96_int8, 219 KB of constants, 613 KB with the
    copy, and ad01_int8, 799 KB: on 2 MB boards, not on 1 MB ones)."""
    if not target.dsp or target.mve or not target.flash_bytes:
        return False
    def nbytes(name: str | None) -> int:
        data = g.t(name).data if name else None
        return 0 if data is None else int(data.nbytes)

    total = sum(nbytes(name) for name in g.tensors)
    widened = sum(nbytes(op.inputs[1]) for op in g.ops
                  if op.attrs.get("kernel_choice", {}).get("kernel") in ("conv2d_s8_dsp", "fully_connected_s8_dsp"))
    return total + 2 * widened <= target.flash_bytes // 2


def select_kernels(g: Graph, target: KernelTarget, mode: str = "auto") -> Graph:
    """Stores each int8 layer's fast kernel choice in op.attrs["kernel_choice"] (mode "auto"; "dsp": as if the core
    had no MVE); "portable" clears every choice. Float32 layers keep their portable kernels."""
    assert mode in MODES, mode
    if mode == "dsp":
        target = replace(target, mve=False)
    for op in g.ops:
        op.attrs.pop("kernel_choice", None)
        # no DSP kernel reads int4 weights or int16 activations
        if mode == "portable" or is_float(op, g) or is_int16(op, g) or int4_weights(op, g):
            continue
        choice = REGISTRY[op.type].choose_kernel(op, g, target)
        if choice is not None:
            op.attrs["kernel_choice"] = dict(kernel=choice.kernel, function=choice.function, reason=choice.reason)
    g.meta["kernels"] = dict(mode=mode, core=target.core, dsp=target.dsp, mve=target.mve,
                             conv_weights16=mode != "portable" and conv_weights16_fit(g, target))
    return g


def kernel_of(op: Op, g: Graph) -> tuple[str | None, str]:
    """(the C function family the layer runs, why): for report.json's per-layer `kernel` and `kernel_reason`."""
    chosen = op.attrs.get("kernel_choice")
    if chosen and "patch" not in op.attrs:
        return chosen["function"], chosen["reason"]
    if int4_weights(op, g):
        return f"edgec_{INT4_KERNELS[op.type]}", "int4 weights: packed in flash, one output channel unpacked at a time"
    portable = REGISTRY[op.type].kernel_for(op, g)
    if portable is None:
        return None, "no kernel: the output is the input's memory (no data moves)"
    settings = g.meta.get("kernels", {})
    if "patch" in op.attrs:
        why = "patch stage: the portable kernel over one region per patch"
    elif settings.get("mode") == "portable":
        why = "--kernels portable"
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
