"""CMSIS-NN's int8 kernels on the very layers edgec compiles, counted on the emulated Cortex-M4: the CMSIS-NN
column of bench/speed.py.

For every CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D and ADD layer of the MLPerf Tiny int8 models,
this script takes the layer from edgec's own IR (`driver.compile_model(model, "nucleo_l4r5zi", kernels="portable")`:
the same shapes, zero points, paddings, activation clamps, per-channel multipliers and shifts edgec computes, and the
model's real weights and biases), writes a C driver that calls CMSIS-NN's s8 entry point for it with the scratch its
`*_get_buffer_size` function asks for, cross-compiles that driver with CMSIS-NN for the board, and counts the guest
instructions of every call on QEMU with edgec's instruction-counting plugin (targets/cortexm/insncount.c).

The entry points are the ones TFLite Micro's CMSIS-NN kernels call: `arm_convolve_wrapper_s8`,
`arm_depthwise_conv_wrapper_s8`, `arm_fully_connected_wrapper_s8`, `arm_avgpool_s8` and `arm_elementwise_add_s8`;
the wrappers pick the specialised kernel (1x1, 3x3 depthwise, ...) themselves, and `cmsis_nn_function` in the
results names the one they pick. Every layer runs once on random int8 inputs (seeded), and every output is compared
with edgec's numpy reference of the layer (`REGISTRY[op.type].reference`, itself bit-exact with TFLite Micro): a
mismatch fails the run, so the counts are those of a correctly set up call.

Counting: the driver calls the empty marker edgec_trace() just before and just after each CMSIS-NN call (and
edgec_marker_start/end around them all); the plugin sums the instructions between consecutive markers. A layer's count
is the call with its argument set-up plus one marker's own few instructions (`marker_overhead_instructions`, measured
with two markers back to back and not subtracted; edgec's own per-layer counts carry a marker call too). Reading
inputs and writing outputs through semihosting happens between the layers and is not counted. Instructions, not
cycles: QEMU has no timing model.

CMSIS-NN is not part of edgec and none of its code enters this repository: it is compiled from a checkout outside
the repository (--cmsis-nn), into a folder under the system's temporary directory, and its commit, the compiler and
QEMU versions are recorded in the results. To get the checkout:

    git clone https://github.com/ARM-software/CMSIS-NN /tmp/cmsis-nn
    git -C /tmp/cmsis-nn checkout 99f736a63036613032f9b70de36b493bcd7802d4    # the commit measured in the results

    .venv/bin/python bench/cmsis_nn_layers.py --cmsis-nn /tmp/cmsis-nn [--models kws,vww,ic,ad]
        [--out bench/results/cmsis_nn_layers.json]   (also writes the .md table beside it)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from speed import MODELS, MODELS_DIR

from edgec import cortexm, driver
from edgec.board import get_board
from edgec.errors import EdgecError
from edgec.ir import Graph
from edgec.ops import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
BOARD = "nucleo_l4r5zi"  # Cortex-M4 with DSP and FPU, emulated by QEMU's mps2-an386
REPOSITORY = "https://github.com/ARM-software/CMSIS-NN"
MEASURED_COMMIT = "99f736a63036613032f9b70de36b493bcd7802d4"
#: the library's own flags on top of the board's -mcpu/-mfpu/-mfloat-abi/-mthumb: edgec's optimisation level, no
#: -Werror on code that is not ours. ARM_MATH_DSP follows from __ARM_FEATURE_DSP, which -mcpu=cortex-m4 defines.
LIBRARY_CFLAGS = ["-O2", "-ffunction-sections", "-fdata-sections"]
SEED = 0
#: scratch the driver reserves; every layer checks that its *_get_buffer_size fits
SCRATCH_BYTES = 32 * 1024
TFLITE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "ADD")


# ---------------------------------------------------------------------------------------------------- the checkout


def fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def checkout_commit(cmsis: Path, commit: str | None) -> dict:
    """The checkout's identity: commit (from git, or --commit for an exported tree) and whether it was modified."""
    if not (cmsis / "Include" / "arm_nnfunctions.h").is_file():
        fail(f"no CMSIS-NN checkout at {cmsis} (Include/arm_nnfunctions.h missing). Get one outside this "
             f"repository:\n  git clone {REPOSITORY} {cmsis}\n  git -C {cmsis} checkout {MEASURED_COMMIT}")
    git = ["git", "-C", str(cmsis)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        if commit is None:
            fail(f"{cmsis} is not a git checkout: give the commit it was exported from with --commit")
        return dict(repository=REPOSITORY, commit=commit, describe=None, modified=None)
    if commit is not None and not head.stdout.strip().startswith(commit):
        fail(f"--commit {commit} but the checkout at {cmsis} is at {head.stdout.strip()}")
    describe = subprocess.run([*git, "describe", "--tags", "--always"], capture_output=True, text=True)
    status = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
    return dict(repository=REPOSITORY, commit=head.stdout.strip(), describe=describe.stdout.strip() or None,
                modified=bool(status.stdout.strip()))


def tool_version(cmd: list[str]) -> str:
    res = subprocess.run([*cmd, "--version"], capture_output=True, text=True)
    return res.stdout.splitlines()[0].strip() if res.returncode == 0 and res.stdout else "unknown"


# ---------------------------------------------------------------------------------------------------- the library


def library_sources(cmsis: Path) -> list[Path]:
    """Every integer kernel source (the float16/float32 ones and the Python bindings are not needed)."""
    return sorted(p for p in (cmsis / "Source").rglob("*.c")
                  if not p.stem.endswith(("_f16", "_f32", "_flt")) and "Bindings" not in p.parts)


def build_library(cmsis: Path, work: Path, gcc: str, cpu: list[str], identity: str) -> Path:
    """libcmsis-nn.a compiled for the board, cached in `work` by commit and flags."""
    flags = [*cpu, *LIBRARY_CFLAGS, f"-I{cmsis / 'Include'}"]
    stamp = hashlib.sha256(" ".join([identity, gcc, *flags]).encode()).hexdigest()[:12]
    lib = work / f"libcmsis-nn-{stamp}.a"
    if lib.is_file():
        return lib
    objdir = work / f"obj-{stamp}"
    objdir.mkdir(parents=True, exist_ok=True)

    def compile_one(src: Path) -> Path:
        obj = objdir / f"{src.stem}.o"
        res = subprocess.run([gcc, *flags, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
        if res.returncode != 0:
            fail(f"arm-none-eabi-gcc failed on {src}:\n{res.stderr.strip()[:3000]}", 4)
        return obj

    sources = library_sources(cmsis)
    print(f"compiling CMSIS-NN: {len(sources)} files", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        objs = list(pool.map(compile_one, sources))
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    res = subprocess.run([gcc.replace("gcc", "ar"), "rcs", str(tmp), *map(str, objs)], capture_output=True,
                         text=True)
    if res.returncode != 0:
        fail(f"arm-none-eabi-ar failed: {res.stderr.strip()}", 4)
    tmp.replace(lib)
    return lib


# ---------------------------------------------------------------------------------------------------- the layers


@dataclass
class Layer:
    """One edgec layer as a CMSIS-NN call: its C set-up and call, and what the numpy reference needs."""

    index: int  # position in edgec's report.json `layers`
    name: str
    op: str  # the TFLite operator
    kind: str  # "conv 1x1", "depthwise 3x3", "fully connected", ...
    function: str  # the CMSIS-NN kernel that runs (the wrappers' own dispatch)
    macs: int
    inputs: list[np.ndarray]  # the random activation inputs (int8), in the op's input order
    output_shape: tuple[int, ...]
    setup: list[str] = field(default_factory=list)  # C at file scope: constants and parameter structs
    call: str = ""  # C expression: the CMSIS-NN call, returning arm_cmsis_nn_status
    buffer_size: str = "0"  # C expression: the scratch the call asks for


def c_array(ctype: str, name: str, values: np.ndarray) -> str:
    items = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    lines = [", ".join(items[i:i + 24]) for i in range(0, len(items), 24)]
    body = ",\n    ".join(lines)
    return f"static const {ctype} {name}[{len(items)}] __attribute__((aligned(4))) = {{\n    {body}\n}};"


def dims(n: int, h: int, w: int, c: int) -> str:
    return f"{{{n}, {h}, {w}, {c}}}"


def conv_function(kh: int, kw: int, stride: tuple[int, int], pad: tuple[int, int], in_h: int, in_c: int,
                  filter_c: int) -> str:
    """The kernel arm_convolve_wrapper_s8 dispatches to, by its rules at the measured commit (no dilation: it is
    refused above; filter_c < in_c is a grouped convolution)."""
    if pad == (0, 0) and (kh, kw) == (1, 1) and filter_c == in_c:
        return "arm_convolve_1x1_s8_fast" if stride == (1, 1) else "arm_convolve_1x1_s8"
    if in_h == 1 and kh == 1 and (stride[1] * in_c) % 4 == 0 and filter_c == in_c:
        return "arm_convolve_1_x_n_s8"
    return "arm_convolve_s8"


def depthwise_function(kh: int, kw: int, pad: tuple[int, int], mult: int, batches: int) -> str:
    """The kernel arm_depthwise_conv_wrapper_s8 dispatches to on a DSP core (no MVE, no dilation)."""
    if mult == 1 and batches == 1:
        return "arm_depthwise_conv_3x3_s8" if (kh, kw) == (3, 3) and max(pad) <= 1 else "arm_depthwise_conv_s8_opt"
    return "arm_depthwise_conv_s8"


def conv_layer(k: int, op, g, rng: np.random.Generator) -> Layer:
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    a, p = op.attrs, op.params
    depthwise = op.type == "depthwise_conv2d"
    n, in_h, in_w, in_c = x.shape
    _, out_h, out_w, out_c = y.shape
    kh, kw = w.shape[1], w.shape[2]
    stride, pad = (a["stride_h"], a["stride_w"]), (p["pad_top"], p["pad_left"])
    dil = (a.get("dilation_h", 1), a.get("dilation_w", 1))
    if dil != (1, 1):
        raise EdgecError(f"layer {op.name}: dilation {dil} is not set up here")
    if depthwise:
        kind, function = f"depthwise {kh}x{kw}", depthwise_function(kh, kw, pad, a["depth_multiplier"], n)
    else:
        kind, function = f"conv {kh}x{kw}", conv_function(kh, kw, stride, pad, in_h, in_c, w.shape[3])
    s = f"l{k}"
    bias = g.t(op.inputs[2]).data if len(op.inputs) > 2 and op.inputs[2] else np.zeros(out_c, np.int32)
    setup = [c_array("int8_t", f"{s}_weights", w.data), c_array("int32_t", f"{s}_bias", bias),
             c_array("int32_t", f"{s}_multiplier", p["multiplier"]), c_array("int32_t", f"{s}_shift", p["shift"])]
    common = (f".input_offset = {p['input_offset']}, .output_offset = {p['output_offset']}, "
              f".stride = {{.w = {stride[1]}, .h = {stride[0]}}}, .padding = {{.w = {pad[1]}, .h = {pad[0]}}}, "
              f".dilation = {{.w = 1, .h = 1}}, .activation = {{.min = {p['act_min']}, .max = {p['act_max']}}}")
    if depthwise:
        setup.append(f"static const cmsis_nn_dw_conv_params {s}_params = "
                     f"{{.ch_mult = {a['depth_multiplier']}, {common}}};")
        filter_dims = dims(1, kh, kw, out_c)
    else:
        setup.append(f"static const cmsis_nn_conv_params {s}_params = {{{common}}};")
        filter_dims = dims(out_c, kh, kw, w.shape[3])
    setup += [f"static const cmsis_nn_per_channel_quant_params {s}_quant = "
              f"{{(int32_t *){s}_multiplier, (int32_t *){s}_shift}};",
              f"static const cmsis_nn_dims {s}_input_dims = {dims(n, in_h, in_w, in_c)};",
              f"static const cmsis_nn_dims {s}_filter_dims = {filter_dims};",
              f"static const cmsis_nn_dims {s}_bias_dims = {dims(1, 1, 1, out_c)};",
              f"static const cmsis_nn_dims {s}_output_dims = {dims(n, out_h, out_w, out_c)};"]
    wrapper = "arm_depthwise_conv_wrapper_s8" if depthwise else "arm_convolve_wrapper_s8"
    call = (f"{wrapper}(&ctx, &{s}_params, &{s}_quant, &{s}_input_dims, input_a, &{s}_filter_dims, {s}_weights, "
            f"&{s}_bias_dims, {s}_bias, &{s}_output_dims, output)")
    size = f"{wrapper}_get_buffer_size(&{s}_params, &{s}_input_dims, &{s}_filter_dims, &{s}_output_dims)"
    return Layer(k, op.name, op.attrs.get("tflite_op", op.type), kind, function, int(REGISTRY[op.type].macs(op, g)),
                 [random_int8(rng, x.shape)], tuple(y.shape), setup, call, size)


def fc_layer(k: int, op, g, rng: np.random.Generator) -> Layer:
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    p = op.params
    out_c, depth = w.shape
    batches = x.size // depth
    s = f"l{k}"
    bias = g.t(op.inputs[2]).data if len(op.inputs) > 2 and op.inputs[2] else np.zeros(out_c, np.int32)
    per_channel = int(p["per_channel"])
    setup = [c_array("int8_t", f"{s}_weights", w.data), c_array("int32_t", f"{s}_bias", bias),
             c_array("int32_t", f"{s}_multiplier", p["multiplier"]), c_array("int32_t", f"{s}_shift", p["shift"]),
             f"static const cmsis_nn_fc_params {s}_params = {{.input_offset = {p['input_offset']}, "
             f".filter_offset = 0, .output_offset = {p['output_offset']}, "
             f".activation = {{.min = {p['act_min']}, .max = {p['act_max']}}}}};",
             f"static const cmsis_nn_quant_params {s}_quant = "
             f"{{(int32_t *){s}_multiplier, (int32_t *){s}_shift, {per_channel}}};",
             # TFLite Micro's layout: input [batches, depth], filter n = depth (accumulation), c = output depth
             f"static const cmsis_nn_dims {s}_input_dims = {dims(batches, 1, 1, depth)};",
             f"static const cmsis_nn_dims {s}_filter_dims = {dims(depth, 1, 1, out_c)};",
             f"static const cmsis_nn_dims {s}_bias_dims = {dims(1, 1, 1, out_c)};",
             f"static const cmsis_nn_dims {s}_output_dims = {dims(batches, 1, 1, out_c)};"]
    call = (f"arm_fully_connected_wrapper_s8(&ctx, &{s}_params, &{s}_quant, &{s}_input_dims, input_a, "
            f"&{s}_filter_dims, {s}_weights, &{s}_bias_dims, {s}_bias, &{s}_output_dims, output)")
    function = "arm_fully_connected_per_channel_s8" if per_channel else "arm_fully_connected_s8"
    return Layer(k, op.name, op.attrs.get("tflite_op", op.type), "fully connected", function,
                 int(REGISTRY[op.type].macs(op, g)), [random_int8(rng, x.shape)], tuple(y.shape), setup, call,
                 f"arm_fully_connected_s8_get_buffer_size(&{s}_filter_dims)")


def avgpool_layer(k: int, op, g, rng: np.random.Generator) -> Layer:
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    a, p = op.attrs, op.params
    s = f"l{k}"
    setup = [f"static const cmsis_nn_pool_params {s}_params = {{.stride = {{.w = {a['stride_w']}, "
             f".h = {a['stride_h']}}}, .padding = {{.w = {p['pad_left']}, .h = {p['pad_top']}}}, "
             f".activation = {{.min = {p['act_min']}, .max = {p['act_max']}}}}};",
             f"static const cmsis_nn_dims {s}_input_dims = {dims(*x.shape)};",
             f"static const cmsis_nn_dims {s}_filter_dims = {dims(1, a['filter_h'], a['filter_w'], 1)};",
             f"static const cmsis_nn_dims {s}_output_dims = {dims(*y.shape)};"]
    call = (f"arm_avgpool_s8(&ctx, &{s}_params, &{s}_input_dims, input_a, &{s}_filter_dims, &{s}_output_dims, "
            f"output)")
    return Layer(k, op.name, op.attrs.get("tflite_op", op.type), "average pool", "arm_avgpool_s8",
                 int(REGISTRY[op.type].macs(op, g)), [random_int8(rng, x.shape)], tuple(y.shape), setup, call,
                 f"arm_avgpool_s8_get_buffer_size({y.shape[2]}, {y.shape[3]})")


def add_layer(k: int, op, g, rng: np.random.Generator) -> Layer:
    a_shape, b_shape, y = g.t(op.inputs[0]).shape, g.t(op.inputs[1]).shape, g.t(op.outputs[0])
    if a_shape != b_shape or tuple(a_shape) != tuple(y.shape):
        raise EdgecError(f"layer {op.name}: a broadcasting ADD has no arm_elementwise_add_s8 call")
    p = op.params
    call = (f"arm_elementwise_add_s8(input_a, input_b, {p['input1_offset']}, {p['input1_multiplier']}, "
            f"{p['input1_shift']}, {p['input2_offset']}, {p['input2_multiplier']}, {p['input2_shift']}, "
            f"{p['left_shift']}, output, {p['output_offset']}, {p['output_multiplier']}, {p['output_shift']}, "
            f"{p['act_min']}, {p['act_max']}, {y.size})")
    return Layer(k, op.name, op.attrs.get("tflite_op", op.type), "add", "arm_elementwise_add_s8",
                 int(REGISTRY[op.type].macs(op, g)), [random_int8(rng, a_shape), random_int8(rng, b_shape)],
                 tuple(y.shape), [], call, "0")


BUILDERS = {"conv2d": conv_layer, "depthwise_conv2d": conv_layer, "fully_connected": fc_layer,
            "avg_pool2d": avgpool_layer, "add": add_layer}


def random_int8(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(-128, 128, size=tuple(shape), dtype=np.int8)


def model_layers(model: Path) -> tuple[list[Layer], Graph]:
    """The layers of `model` CMSIS-NN has a kernel for, as edgec compiles them for the board, with the parameters
    of edgec's portable kernels (which every fast kernel must reproduce bit for bit)."""
    s = driver.compile_model(model, BOARD, kernels="portable")
    g = s.graph
    rng = np.random.default_rng(SEED)
    layers = []
    for k, op in enumerate(g.ops):
        if op.attrs.get("tflite_op", "") in TFLITE_OPS and op.type in BUILDERS:
            for i in op.inputs[:1]:
                if g.t(i).dtype != "int8":
                    raise EdgecError(f"layer {op.name}: input {i} is {g.t(i).dtype}, not int8")
            layers.append(BUILDERS[op.type](k, op, g, rng))
    return layers, g


# ---------------------------------------------------------------------------------------------------- the driver

DRIVER_HEAD = """\
/* CMSIS-NN on the layers of {model}, generated by edgec's bench/cmsis_nn_layers.py. Not part of edgec.
 * input.bin: the 16-byte header of edgec's firmware harness, then every layer's random inputs in order.
 * output.bin: per layer, int32 status, int32 scratch bytes asked for, then the layer's output. */
#include <stddef.h>
#include <stdint.h>

#include "arm_nnfunctions.h"
#include "edgec_cortexm.h"
#include "semihost.h"

volatile uint32_t edgec_marker_counts[3];

__attribute__((noipa, noinline)) void edgec_marker_start(void) {{
    edgec_marker_counts[0]++;
}}

__attribute__((noipa, noinline)) void edgec_marker_end(void) {{
    edgec_marker_counts[1]++;
}}

__attribute__((noipa, noinline)) void edgec_trace(int32_t layer, const void *data, int32_t nbytes) {{
    (void)data;
    (void)nbytes;
    edgec_marker_counts[2] = (uint32_t)layer;
}}

static int8_t input_a[{in_a}] __attribute__((aligned(16)));
static int8_t input_b[{in_b}] __attribute__((aligned(16), unused)); /* the second input of ADD */
static int8_t output[{out}] __attribute__((aligned(16)));
static int8_t scratch[{scratch}] __attribute__((aligned(16)));
static cmsis_nn_context ctx;

static int32_t in_fd, out_fd;

static int read_input(int8_t *dst, uint32_t n) {{
    return sh_read(in_fd, dst, n) != 0;
}}

static int write_result(int32_t status, int32_t buffer_bytes, uint32_t n) {{
    int32_t head[2] = {{status, buffer_bytes}};
    return sh_write(out_fd, head, sizeof head) != 0 || sh_write(out_fd, output, n) != 0;
}}

"""


def driver_source(model: str, layers: list[Layer]) -> str:
    in_a = max(x.size for layer in layers for x in layer.inputs[:1])
    in_b = max([layer.inputs[1].size for layer in layers if len(layer.inputs) > 1] or [4])
    out = max(int(np.prod(layer.output_shape)) for layer in layers)
    parts = [DRIVER_HEAD.format(model=model, in_a=in_a, in_b=in_b, out=out, scratch=SCRATCH_BYTES)]
    for layer in layers:
        parts.append(f"/* layer {layer.index}: {layer.name} ({layer.op}, {layer.function}) */")
        parts += layer.setup
        parts.append("")
    body = ["int main(void) {",
            "    uint8_t header[16];",
            "    int32_t status, size;",
            '    in_fd = sh_open("input.bin", SH_MODE_RB);',
            '    out_fd = sh_open("output.bin", SH_MODE_WB);',
            "    if (in_fd < 0 || out_fd < 0 || sh_read(in_fd, header, sizeof header) != 0) {",
            "        return EDGEC_EXIT_NO_INPUT;",
            "    }",
            "    ctx.buf = scratch;",
            "    edgec_marker_start();",
            "    /* two markers back to back: the instructions a marker itself adds to a layer's count */",
            "    edgec_trace(-1, NULL, 0);",
            "    edgec_trace(-1, NULL, 0);"]
    for layer in layers:
        n_out = int(np.prod(layer.output_shape))
        body += [f"    /* layer {layer.index}: {layer.name} */",
                 f"    size = {layer.buffer_size};",
                 f"    if (size > {SCRATCH_BYTES} || read_input(input_a, {layer.inputs[0].size}u)"
                 + (f" || read_input(input_b, {layer.inputs[1].size}u)" if len(layer.inputs) > 1 else "") + ") {",
                 "        return EDGEC_EXIT_BAD_INPUT;",
                 "    }",
                 "    ctx.size = size;",
                 f"    edgec_trace({2 * layer.index}, NULL, 0);",
                 f"    status = {layer.call};",
                 f"    edgec_trace({2 * layer.index + 1}, NULL, 0);",
                 f"    if (write_result(status, size, {n_out}u)) {{",
                 "        return EDGEC_EXIT_NO_OUTPUT;",
                 "    }"]
    body += ["    edgec_marker_end();",
             "    (void)sh_close(out_fd);",
             "    (void)sh_close(in_fd);",
             '    sh_write_dec("edgec: samples=", 1u);',
             '    sh_write_dec(" stack_high_water=", edgec_stack_high_water());',
             '    sh_write0("\\n");',
             "    return EDGEC_EXIT_OK;",
             "}", ""]
    return "\n".join(parts + body)


def build_firmware(model: str, layers: list[Layer], cmsis: Path, lib: Path, work: Path, gcc: str,
                   cpu: list[str]) -> Path:
    d = work / model
    d.mkdir(parents=True, exist_ok=True)
    src = resources.files("edgec.targets") / "cortexm"
    for name in ("startup.c", "semihost.c", "semihost.h", "edgec_cortexm.h"):
        (d / name).write_text((src / name).read_text())
    (d / "main.c").write_text(driver_source(model, layers))
    (d / "board.ld").write_text(cortexm.linker_script(get_board(BOARD), emulated=True))
    elf = d / "cmsis_nn_layers.elf"
    cmd = [gcc, *cpu, *LIBRARY_CFLAGS, "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{cmsis / 'Include'}",
           "-I.", "main.c", "startup.c", "semihost.c", str(lib), *cortexm.LDFLAGS, "-T", "board.ld",
           "-Wl,-Map=cmsis_nn_layers.map", "-o", elf.name, *cortexm.LIBS]
    res = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    if res.returncode != 0:
        fail(f"building the CMSIS-NN driver of {model} failed ({' '.join(cmd)}):\n{res.stderr.strip()[:4000]}", 4)
    return elf


# ---------------------------------------------------------------------------------------------------- measure


def measure(model: str, path: Path, cmsis: Path, lib: Path, work: Path, gcc: str, cpu: list[str]) -> dict:
    layers, g = model_layers(path)
    elf = build_firmware(model, layers, cmsis, lib, work, gcc, cpu)
    syms = cortexm.symbol_addresses(elf, ["edgec_marker_start", "edgec_marker_end", "edgec_trace"])
    plugin = (f"{cortexm.plugin_path()},begin={syms['edgec_marker_start']:#x},end={syms['edgec_marker_end']:#x},"
              f"layer={syms['edgec_trace']:#x}")
    payload = np.concatenate([x.reshape(-1) for layer in layers for x in layer.inputs]).view(np.uint8)
    run = cortexm.run_firmware(elf, BOARD, [[payload]], timeout=600, plugin=plugin)
    positions = run.plugin.get("layer_insns", [])
    if run.plugin.get("roi_calls") != 1 or len(positions) != 2 + 2 * len(layers) + 1:
        fail(f"{model}: the plugin saw {run.plugin.get('roi_calls')} runs and {len(positions)} marker positions, "
             f"expected 1 and {2 + 2 * len(layers) + 1}", 5)
    overhead = positions[1]
    rows, offset = [], 0
    for j, layer in enumerate(layers):
        status, scratch = np.frombuffer(run.outputs[offset:offset + 8], dtype="<i4")
        n_out = int(np.prod(layer.output_shape))
        got = np.frombuffer(run.outputs[offset + 8:offset + 8 + n_out], dtype=np.int8).reshape(layer.output_shape)
        offset += 8 + n_out
        op = g.ops[layer.index]
        consts = [g.t(i).data if i and g.t(i).is_const else None for i in op.inputs]
        feed = iter(layer.inputs)
        inputs = [c if c is not None else next(feed) for c in consts]
        expected = REGISTRY[op.type].reference(op, g, inputs)[0]
        if status != 0:
            fail(f"{model} layer {layer.index} {layer.name}: {layer.function} returned status {status}", 5)
        diff = int(np.abs(got.astype(np.int32) - expected.astype(np.int32)).max())
        if diff != 0:
            fail(f"{model} layer {layer.index} {layer.name}: CMSIS-NN's output differs from edgec's reference by up "
                 f"to {diff} LSB: the call is not set up like edgec's layer", 5)
        instructions = int(positions[2 + 2 * j + 1])
        rows.append(dict(index=layer.index, name=layer.name, op=layer.op, kind=layer.kind,
                         cmsis_nn_function=layer.function, macs=layer.macs, instructions=instructions,
                         instructions_per_mac=round(instructions / layer.macs, 4) if layer.macs else None,
                         mac_per_instruction=round(layer.macs / instructions, 4) if layer.macs else None,
                         scratch_bytes=int(scratch), output_shape=list(layer.output_shape),
                         outputs_compared=int(got.size), max_abs_diff_lsb=diff))
    if offset != len(run.outputs):
        fail(f"{model}: {len(run.outputs)} output bytes, expected {offset}", 5)
    skipped = [dict(index=k, name=op.name, op=op.attrs.get("tflite_op", op.type),
                    macs=int(REGISTRY[op.type].macs(op, g)))
               for k, op in enumerate(g.ops) if k not in {layer.index for layer in layers}]
    return dict(layers=rows, not_measured=skipped, marker_overhead_instructions=int(overhead),
                stack_high_water_bytes=run.stats.get("stack_high_water"))


def summarize(rows: list[dict]) -> dict:
    macs = sum(r["macs"] for r in rows)
    instructions = sum(r["instructions"] for r in rows)
    return dict(layers=len(rows), macs=macs, instructions=instructions,
                instructions_per_mac=round(instructions / macs, 4) if macs else None,
                mac_per_instruction=round(macs / instructions, 4) if instructions else None)


# ---------------------------------------------------------------------------------------------------- report


def _ratio(a: float | None) -> str:
    return f"{a:.3f}" if a is not None else "-"


def render(data: dict) -> str:
    c = data["cmsis_nn"]
    out = ["# CMSIS-NN on edgec's layers: instructions on the emulated Cortex-M4", "",
           f"CMSIS-NN {c['commit']} ({c['describe'] or 'exported tree'}{', modified' if c['modified'] else ''}), "
           f"{data['compiler']}, `{' '.join(data['cflags'])}`; {data['qemu']}, machine {data['machine']} "
           f"(board {data['board']}). Instructions counted by edgec's QEMU plugin per call (QEMU has no timing "
           f"model: instructions, not cycles); each call includes ~{data['marker_overhead_instructions']} "
           "instructions of marker. Every output equals edgec's reference of the layer (0 LSB). Made by "
           "`bench/cmsis_nn_layers.py`; bench/speed.py puts these beside edgec's own per-layer counts. MACs are "
           "edgec's report.json `macs`: for ADD one per output element, for AVERAGE_POOL_2D one per window tap.", "",
           "## Per kind of layer, all four models", "",
           "| kind | CMSIS-NN kernel(s) | layers | MACs | instructions | instructions/MAC | MAC/instruction |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for kind, s in data["by_kind"].items():
        out.append(f"| {kind} | {', '.join(s['functions'])} | {s['layers']} | {s['macs']:,} | {s['instructions']:,} | "
                   f"{_ratio(s['instructions_per_mac'])} | {_ratio(s['mac_per_instruction'])} |")
    out += ["", "## Per CMSIS-NN kernel, all four models", "",
            "| CMSIS-NN kernel | layers | MACs | instructions | instructions/MAC | MAC/instruction |",
            "|---|---:|---:|---:|---:|---:|"]
    for function, s in data["by_function"].items():
        out.append(f"| {function} | {s['layers']} | {s['macs']:,} | {s['instructions']:,} | "
                   f"{_ratio(s['instructions_per_mac'])} | {_ratio(s['mac_per_instruction'])} |")
    out += ["", "## Per model (the measured layers; softmax and reshape are not measured)", "",
            "| model | layers measured | MACs | instructions | instructions/MAC | MAC/instruction |",
            "|---|---:|---:|---:|---:|---:|"]
    for m, s in data["totals"].items():
        out.append(f"| {m} | {s['layers']} | {s['macs']:,} | {s['instructions']:,} | "
                   f"{_ratio(s['instructions_per_mac'])} | {_ratio(s['mac_per_instruction'])} |")
    for m, rows in data["models"].items():
        out += ["", f"## {m} ({MODELS[m]})", "",
                "| # | layer | kind | CMSIS-NN kernel | MACs | scratch B | instructions | instr/MAC | MAC/instr |",
                "|---:|---|---|---|---:|---:|---:|---:|---:|"]
        for r in rows:
            out.append(f"| {r['index']} | {r['name']} | {r['kind']} | {r['cmsis_nn_function']} | {r['macs']:,} | "
                       f"{r['scratch_bytes']:,} | {r['instructions']:,} | {_ratio(r['instructions_per_mac'])} | "
                       f"{_ratio(r['mac_per_instruction'])} |")
    return "\n".join(out) + "\n"


def group(rows: list[dict], key: str) -> dict:
    """Totals of the rows sharing each value of `key`, with the CMSIS-NN kernels that ran."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    return {k: dict(summarize(g), functions=sorted({r["cmsis_nn_function"] for r in g}))
            for k, g in sorted(groups.items())}


def run(cmsis: Path, commit: str | None, models: list[str], work: Path) -> dict:
    """Build CMSIS-NN and every model's driver, measure, check, and return the results (the JSON)."""
    identity = checkout_commit(cmsis, commit)
    tc = cortexm.find_toolchain(need_qemu=True)
    board = get_board(BOARD)
    cpu = cortexm.cpu_flags(board)
    work.mkdir(parents=True, exist_ok=True)
    lib = build_library(cmsis, work, tc.gcc, cpu, identity["commit"])
    results = {}
    for m in models:
        results[m] = measure(m, MODELS_DIR / MODELS[m], cmsis, lib, work, tc.gcc, cpu)
        s = summarize(results[m]["layers"])
        print(f"{m:4s} {s['layers']:3d} layers  {s['macs']:>12,} MACs  {s['instructions']:>12,} instructions  "
              f"{s['mac_per_instruction']:.3f} MAC/instruction", flush=True)
    rows = [row for m in models for row in results[m]["layers"]]
    return dict(what="instructions of CMSIS-NN's s8 kernels per edgec layer on the emulated Cortex-M4 "
                     "(bench/cmsis_nn_layers.py)",
                cmsis_nn=identity, compiler=tool_version([tc.gcc]), cflags=[*cpu, *LIBRARY_CFLAGS],
                qemu=tool_version([tc.qemu or "qemu-system-arm"]), board=BOARD, machine=board.qemu_machine,
                core=board.core, seed=SEED,
                marker_overhead_instructions=max(results[m]["marker_overhead_instructions"] for m in models),
                models={m: results[m]["layers"] for m in models},
                not_measured={m: results[m]["not_measured"] for m in models},
                totals={m: summarize(results[m]["layers"]) for m in models},
                by_kind=group(rows, "kind"), by_function=group(rows, "cmsis_nn_function"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cmsis-nn", type=Path, default=Path("/tmp/cmsis-nn"),
                    help="a CMSIS-NN checkout outside this repository")
    ap.add_argument("--commit", help="the commit of --cmsis-nn when it is an exported tree, not a git checkout")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "edgec-cmsis-nn-bench",
                    help="build folder (the compiled library is cached there)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cmsis_nn_layers.json")
    a = ap.parse_args()
    cmsis = a.cmsis_nn.resolve()
    if cmsis == ROOT or ROOT in cmsis.parents:
        fail(f"{cmsis} is inside this repository: CMSIS-NN must be checked out outside it")
    models = a.models.split(",")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        fail(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(MODELS)}")
    try:
        data = run(cmsis, a.commit, models, a.work)
    except EdgecError as e:
        fail(e.message, e.code)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(data, indent=1) + "\n")
    text = render(data)
    a.out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
