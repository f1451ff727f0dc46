"""The `edgec` command line (click). Progress and messages go to stderr; `--json` puts one JSON object on stdout.

Exit codes (docs/cli.md): 0 ok, 1 outputs differ beyond tolerance, 2 usage or input error, 3 does not fit the
budget, 4 toolchain/emulator missing or failed, 5 internal error (a bug in edgec; --debug shows the traceback).
"""

from __future__ import annotations

import json
import math
import signal
import sys
import traceback
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.status import Status

from . import __version__
from .c_text import display_text
from .errors import EdgecError, Terminated, interrupt, raise_if_interrupted

# emoji=False: a model's names may hold `:smile:`-like codes, shown as they are written
err = Console(stderr=True, highlight=False, emoji=False)
console = Console(highlight=False, emoji=False)
EXIT_INTERNAL = 5
MAX_SAMPLES = 100_000  # test vectors per run: random ones are all held in memory, and each runs the C once


class Stages:
    """Shows each stage as it starts (on stderr), with a spinner while it runs."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.status: Status | None = None
        self.last: str | None = None  # the stage running when an error stops the command (--json's `stage`)

    def __enter__(self):
        if not self.quiet:
            self.status = err.status("starting")
            self.status.__enter__()
        return self

    def __call__(self, stage: str) -> None:
        raise_if_interrupted()
        self.last = stage
        if self.status is not None:
            self.status.update(escape(stage))  # stages name user paths: text, not markup
            err.print(f"[dim]- {escape(stage)}[/]")

    def __exit__(self, *exc):
        if self.status is not None:
            self.status.__exit__(*exc)


def json_error(code: int, message: str, stage: str | None) -> str:
    """The one JSON object `--json` prints on stdout when a command fails (docs/cli.md, "--json")."""
    return json.dumps({"error": {"exit_code": code, "message": message, "stage": stage}})


def run_guarded(fn, debug: bool, stages: Stages | None = None, as_json: bool = False):
    """Run a command's body: an EdgecError is one message and its exit code, anything else an internal error
    (exit 5). With `as_json`, a failure also prints json_error(...) on stdout, naming the last stage `stages` saw."""

    def fail(code: int, message: str) -> None:
        if as_json:
            click.echo(json_error(code, message, stages.last if stages is not None else None))
        sys.exit(code)

    try:
        return fn()
    except EdgecError as e:
        if debug:
            traceback.print_exc()
        # messages hold [..] (escaped) and model names (control characters shown as \xNN, line by line)
        shown = "\n".join(display_text(line) for line in e.message.split("\n"))
        err.print(f"[bold red]error:[/] {escape(shown)}", markup=True, soft_wrap=True)
        fail(e.code, e.message)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated): the `finally`s above have cleaned up
        err.print("interrupted")
        fail(143 if isinstance(e, Terminated) else 130, "interrupted")
    except Exception as e:  # a bug in edgec: say so plainly, keep the traceback for --debug
        if debug:
            traceback.print_exc()
        message = f"internal error: {type(e).__name__}: {e}"
        err.print(f"{message}\n(this is a bug in edgec; rerun with --debug for the traceback and report it)",
                  markup=False)
        fail(EXIT_INTERNAL, message)


model_arg = click.argument("model", type=click.Path(path_type=Path))


class ByteSize(click.ParamType):
    """512, 64k, 64K, 64KiB, 1M, 1.5MB: binary multiples (k = 1024), as board datasheets count SRAM and flash.
    A budget is a whole positive number of bytes up to MAX_BYTES (inf, nan and 1e309 are not sizes)."""

    name = "size"
    units = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
             "g": 1024**3, "gb": 1024**3, "gib": 1024**3}
    MAX_BYTES = 1 << 40  # 1 TiB: far above any microcontroller, far below float precision trouble

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= self.MAX_BYTES:
            return value
        text = str(value).strip().lower().replace("_", "").replace(",", "")
        number = text.rstrip("kmgib")
        unit = text[len(number):]
        try:
            size = float(number) * self.units[unit]
        except (ValueError, KeyError):
            self.fail(f"{value!r} is not a size (examples: 65536, 64k, 1M)", param, ctx)
        if not math.isfinite(size) or size <= 0 or size > self.MAX_BYTES:
            self.fail(f"{value!r}: a budget must be a positive number of bytes up to 1 TiB (e.g. 65536, 64k, 1M)",
                      param, ctx)
        if int(size) < 1:
            self.fail(f"{value!r}: a budget must be at least 1 byte", param, ctx)
        return int(size)


class FiniteFloat(click.ParamType):
    """A finite float (NaN and infinities refused, as every comparison with NaN is false), optionally in
    [low, high] and non-zero: click's FloatRange lets NaN through."""

    name = "number"

    def __init__(self, low: float | None = None, high: float | None = None, nonzero: bool = False):
        self.low, self.high, self.nonzero = low, high, nonzero

    def convert(self, value, param, ctx):
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        domain = ("a finite number" + (f" from {self.low:g}" if self.low is not None else "")
                  + (f" to {self.high:g}" if self.high is not None else "") + (", not 0" if self.nonzero else ""))
        if (not math.isfinite(x) or (self.low is not None and x < self.low)
                or (self.high is not None and x > self.high) or (self.nonzero and x == 0)):
            self.fail(f"{value!r}: must be {domain}", param, ctx)
        return x


def schedule_options(fn):
    """The memory-schedule flags shared by build and test (docs/memory.md)."""
    for option in reversed([
        click.option("--sram-budget", type=ByteSize(), help="SRAM for edgec (arena + stack) [default: the board's]."),
        click.option("--flash-budget", type=ByteSize(), help="Flash for code + weights [default: the board's]."),
        click.option("--patch/--no-patch", "patch", default=None,
                     help="Patch-based first stage: always take the smallest arena / never "
                          "[default: only when layer by layer does not fit the budget]."),
        click.option("--max-mac-overhead", type=FiniteFloat(0, 1000), default=20.0, show_default=True,
                     help="Patch search: most extra MACs allowed for the recomputed halos, in percent."),
        click.option("--kernels", type=click.Choice(["auto", "portable", "dsp"]), default="auto",
                     show_default=True,
                     help="auto: per layer, the fastest kernel the board's core runs (Helium kernels on the M55, DSP "
                          "kernels on Cortex-M4/M7/M33); portable: the portable C kernels everywhere (the reference); "
                          "dsp: no Helium kernels (what an M55 runs without them, for measurements)."),
        click.option("--optimize", type=click.Choice(["speed", "size"]), default="speed", show_default=True,
                     help="speed: the fast kernels, int16 weight copies where the constants plus copies fit half "
                          "the flash; size: the portable kernels and no copies, the smallest flash."),
    ]):
        fn = option(fn)
    return fn


def _schedule_kwargs(sram_budget, flash_budget, patch, max_mac_overhead, kernels, optimize) -> dict:
    if optimize == "size" and kernels == "dsp":
        raise click.UsageError("--optimize size keeps the portable kernels: it cannot be combined with --kernels dsp")
    return dict(sram_budget=sram_budget, flash_budget=flash_budget, patch=patch,
                max_mac_overhead=max_mac_overhead / 100, kernels=kernels, optimize=optimize)


def _with_flash_budget(run, flash_budget: int | None):
    """Run a build; when its arena does not fit, also name a --flash-budget the weights overflow (the schedule is
    chosen before the flash is checked, so the arena's message alone would hide it)."""
    from .budget import flash_too
    from .errors import BudgetError

    try:
        return run()
    except BudgetError as e:
        if e.weights_bytes is None or flash_budget is None:
            raise
        raise flash_too(e, e.weights_bytes, flash_budget, "--flash-budget is") from None


def _floats(ctx, param, text: str | None) -> tuple[float, ...] | None:
    """Option callback: '0.485,0.456,0.406' -> finite floats (--std also non-zero); a bad value is a usage error
    (exit 2)."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: comma-separated numbers, e.g. 0.485,0.456,0.406") from None
    if not all(math.isfinite(v) for v in values):
        raise click.BadParameter(f"{text!r}: every value must be a finite number (no nan, inf)")
    if param.name == "std" and any(v == 0 for v in values):
        raise click.BadParameter(f"{text!r}: a standard deviation divides, so it must not be 0")
    return values


def _dump_stages(ctx, param, values: tuple[str, ...]) -> tuple[str, ...]:
    """Option callback: ('import', 'convert,schedule') or ('all',) -> the stages named, in the order they run; a
    name that is not a stage is a usage error (exit 2) listing the stages."""
    if not values:
        return ()
    from .driver import STAGES

    names = {n.strip() for v in values for n in v.split(",")} - {""}
    if not names:
        raise click.BadParameter(f"name a stage: {', '.join(STAGES)} or all")
    if "all" in names:
        names = (names - {"all"}) | set(STAGES)
    unknown = sorted(names - set(STAGES))
    if unknown:
        raise click.BadParameter(f"{', '.join(repr(display_text(u)) for u in unknown)}: not a stage; the stages are "
                                 f"{', '.join(STAGES)} (or all)")
    return tuple(stage for stage in STAGES if stage in names)


def _input_shapes(ctx, param, values: tuple[str, ...]) -> dict[str, tuple[int, ...]] | None:
    """Option callback: ('x=1,3,32,32', ...) -> {name: shape} (a bad value is a usage error, exit 2)."""
    shapes = {}
    for v in values:
        name, _, dims = v.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(","))
        except ValueError:
            shape = ()
        if not name or not shape or min(shape) < 1:
            raise click.BadParameter(f"{v!r}: expected NAME=1,3,32,32 (positive dimensions)")
        shapes[name] = shape
    return shapes or None


def conversion_options(fn):
    """Flags for float and ONNX models (docs/quantization.md): calibration, dtype, dynamic input shapes."""
    for option in reversed([
        click.option("--calib", type=click.Path(path_type=Path),
                     help="Calibration data for a float model (.npz / .npy / image folder): quantize to int8."),
        click.option("--calib-method", type=click.Choice(["minmax", "percentile", "mse", "kl"]), default="minmax",
                     show_default=True, help="How activation ranges are chosen from the calibration data."),
        click.option("--calib-samples", type=click.IntRange(1), help="Use at most this many calibration samples."),
        click.option("--mean", callback=_floats,
                     help="Preprocessing of --calib (and test --inputs) images and float arrays: per-channel mean "
                          "subtracted (after --scale)."),
        click.option("--std", callback=_floats, help="Preprocessing: per-channel divisor (after --mean), not 0."),
        click.option("--scale", "pixel_scale", type=FiniteFloat(nonzero=True),
                     help="Preprocessing: values multiplied first (e.g. 0.00392157 for 1/255 on 8-bit pixels)."),
        click.option("--dtype", type=click.Choice(["int8", "float32"]), default="int8", show_default=True,
                     help="float32 keeps a float model in float (cores with an FPU)."),
        click.option("--input-shape", "input_shape", multiple=True, callback=_input_shapes,
                     help="Fix a dynamic ONNX input: NAME=1,3,32,32 (repeatable)."),
        click.option("--weight-bits", "weight_bits", type=click.Choice(["8", "4"]), default="8", show_default=True,
                     help="With --calib: 4 gives every conv, depthwise conv and fully connected layer int4 weights "
                          "(packed two per byte in flash; docs/quantization.md)."),
        click.option("--int4-layers", "int4_layers", callback=_names,
                     help="With --calib: int4 weights for these layers only (comma list of layer names, as "
                          "`--dump convert` shows them)."),
        click.option("--activations", type=click.Choice(["int8", "int16"]), default="int8", show_default=True,
                     help="With --calib: int16 gives every layer with an int16 kernel int16 activations and int8 "
                          "weights (TFLite's 16x8 quantization; docs/quantization.md)."),
        click.option("--int16-layers", "int16_layers", callback=_names,
                     help="With --calib: int16 activations for these layers only (comma list of layer names)."),
        click.option("--float-ops", "float_ops", callback=_names,
                     help="With --calib: keep the ops of these types float32 between the int8 layers (comma list "
                          "of op types as `edgec ops` names them, e.g. layer_norm,gelu; mixed precision, "
                          "docs/quantization.md)."),
        click.option("--float-layers", "float_layers", callback=_names,
                     help="With --calib: keep these layers float32 (comma list of layer names)."),
    ]):
        fn = option(fn)
    return fn


def _names(ctx, param, value):
    return tuple(n.strip() for n in value.split(",") if n.strip()) if value else ()


def _conversion(calib, calib_method, calib_samples, mean, std, pixel_scale, dtype, input_shape, quiet: bool,
                weight_bits: str = "8", int4_layers: tuple[str, ...] = (), activations: str = "int8",
                int16_layers: tuple[str, ...] = (), float_ops: tuple[str, ...] = (),
                float_layers: tuple[str, ...] = ()):
    from .driver import Conversion
    from .errors import InputError

    if (weight_bits != "8" or int4_layers) and calib is None:
        raise InputError("--weight-bits 4 and --int4-layers choose how edgec quantizes a float model: "
                               "they go with --calib")
    if (activations != "int8" or int16_layers) and calib is None:
        raise InputError("--activations int16 and --int16-layers choose how edgec quantizes a float model: they go "
                         "with --calib (an int16 .tflite runs as it is)")
    if (float_ops or float_layers) and calib is None:
        raise InputError("--float-ops and --float-layers choose which ops edgec's quantizer keeps float: they go "
                         "with --calib")
    return Conversion(dtype=dtype, calib=calib, calib_method=calib_method, calib_limit=calib_samples,
                      mean=mean, std=std, scale=pixel_scale, input_shapes=input_shape, progress=not quiet,
                      weight_bits=int(weight_bits), int4_layers=int4_layers, activations=activations,
                      int16_layers=int16_layers, float_ops=float_ops, float_layers=float_layers)


class EdgecGroup(click.Group):
    """click's group, except that a usage error (exit 2: a bad option value, a missing argument) on a command line
    holding --json also prints the JSON error object on stdout, as every other failure does (docs/cli.md)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as e:
            e.show()
            if "--json" in argv:
                click.echo(json_error(e.exit_code, e.format_message(), None))
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            err.print("aborted")
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)  # click.exceptions.Exit (--help, --version) returns its code


# what `edgec report DIR` reads of report.json (report.markdown); --html reads more, checked as it renders
REPORT_KEYS: dict[str, type | tuple[type, ...]] = dict(
    model=str, board=str, edgec_version=str, macs=int, arena_bytes=int, lower_bound_bytes=int, weights_bytes=int,
    layers=list)


def read_report(folder: Path, required: dict[str, type | tuple[type, ...]]) -> dict:
    """An output folder's report.json, checked: an object with each `required` key of the given type; anything
    else (not JSON, not an object, a key missing or of another type) is exit 2 naming the file and the problem."""
    from .errors import InputError

    path = folder / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{path}: not a readable report.json ({type(e).__name__}: {e}); rebuild the folder with "
                         "`edgec build`") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: holds a JSON {type(data).__name__}, not the object edgec writes; rebuild the "
                         "folder with `edgec build`")
    for key, kind in required.items():
        if key not in data:
            raise InputError(f"{path}: has no `{key}`; rebuild the folder with `edgec build`")
        if not isinstance(data[key], kind) or isinstance(data[key], bool) and bool not in (
                kind if isinstance(kind, tuple) else (kind,)):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise InputError(f"{path}: `{key}` is {json.dumps(data[key])[:60]}, not a {names}; rebuild the folder "
                             "with `edgec build`")
    return data


@click.group(cls=EdgecGroup, context_settings=dict(help_option_names=["-h", "--help"]))
@click.version_option(__version__, prog_name="edgec")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def main(ctx, debug):
    """edgec: neural networks to plain C99 for microcontrollers.

    \b
    Imports .tflite and .onnx models (int8; float models quantized to int8
    from your calibration data with --calib, or kept float32), schedules
    them to fit the board's SRAM and flash (static arena, patch-based first
    layers), writes C (or a Cortex-M firmware), and validates it against
    TFLite Micro (int8: bit for bit) on the host, on QEMU-emulated boards or
    on real boards over pyOCD.

    Start with: edgec test MODEL (see docs/cli.md)."""
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM unwinds like Ctrl-C: no staging folder is left behind
    signal.signal(signal.SIGINT, _interrupt)
    ctx.obj = dict(debug=debug)


def _terminate(signum, frame):
    interrupt(Terminated())


def _interrupt(signum, frame):
    interrupt(KeyboardInterrupt())


def _default_out(model: Path) -> Path:
    return Path("build") / model.stem


@main.command(short_help="Compile a model to C (and firmware for a board).")
@model_arg
@click.option("--board", default="host", show_default=True, help="Target board (see `edgec boards`).")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [default: build/<model name>].")
@schedule_options
@conversion_options
@click.option("--json", "as_json", is_flag=True, help="Print report.json on stdout.")
@click.option("--report", "as_report", is_flag=True, help="Print report.md (schedule, per-layer table) on stdout.")
@click.option("--dump", "dump", multiple=True, callback=_dump_stages, metavar="STAGE",
              help="Write the IR after STAGE as text (repeatable, or a comma list; `all`): import, simplify, "
                   "convert, canonicalize, kernels, reorder, attention, schedule.")
@click.option("--dump-to", "dump_to", type=click.Choice(["out", "-"]),
              help="Where --dump writes: `out`, files dump/NN-STAGE.txt in the output folder [default]; `-`, "
                   "stdout, as each stage finishes.")
@click.pass_context
def build(ctx, model, board, out, sram_budget, flash_budget, patch, max_mac_overhead, kernels, optimize, calib,
          calib_method, calib_samples, mean, std, pixel_scale, dtype, input_shape, weight_bits, int4_layers,
          activations, int16_layers, float_ops, float_layers, as_json, as_report, dump, dump_to):
    """Compile MODEL (.tflite or .onnx) into a C folder: model.c/h, weights.c, runtime/, main.c, Makefile, report;
    for a Cortex-M board also firmware.elf, linked against its SRAM and flash."""
    from . import driver
    from .irtext import DUMP_FOLDER, Dumps

    if dump_to is not None and not dump:
        raise click.UsageError("--dump-to says where --dump writes: add --dump STAGE")
    if dump_to == "-" and (as_json or as_report):
        raise click.UsageError("--dump-to - writes the dumps on stdout, where --json and --report write: use "
                               "--dump-to out (files in the output folder) or drop --json/--report")
    stages = Stages(as_json)
    schedule = _schedule_kwargs(sram_budget, flash_budget, patch, max_mac_overhead, kernels, optimize)

    def go():
        conversion = _conversion(calib, calib_method, calib_samples, mean, std, pixel_scale, dtype, input_shape,
                                 as_json, weight_bits, int4_layers, activations, int16_layers, float_ops,
                                 float_layers)
        dumps = Dumps(dump, stream=sys.stdout if dump_to == "-" else None) if dump else None
        with stages as step:
            b = _with_flash_budget(lambda: driver.build(
                model, out or _default_out(model), board, step, conversion=conversion, dumps=dumps,
                **schedule), flash_budget)
        if as_json:
            click.echo(json.dumps(b.report))
            return
        if as_report:
            from .report import markdown

            click.echo(markdown(b.report))
        r = b.report
        err.print(f"wrote {b.out}/: {len(b.graph.ops)} layers, {r['macs']:,} MACs, arena {r['arena_bytes']:,} B "
                  f"(lower bound {r['lower_bound_bytes']:,} B), weights {r['weights_bytes']:,} B", markup=False,
                  soft_wrap=True)
        err.print(f"schedule: {r['schedule_reason']}", markup=False, soft_wrap=True)
        if r.get("tflm_arena_bytes"):
            t = r["tflm_arena_bytes"]
            err.print(f"TFLM on the same model: arena {t['total']:,} B (non-persistent head {t['head']:,} B); "
                      f"edgec/TFLM head {r['arena_bytes'] / max(t['head'], 1):.2f}", markup=False, soft_wrap=True)
        if r.get("firmware"):
            err.print(f"firmware {b.out / r['firmware']} for {board}: flash {r['flash_bytes']:,} of "
                      f"{r['flash_budget_bytes']:,} B, static SRAM {r['static_sram_bytes']:,} of "
                      f"{r['sram_budget_bytes']:,} B "
                      "(+ stack, measured by `edgec test --board`)", markup=False, soft_wrap=True)
        if dumps is not None and dumps.texts:
            err.print(f"IR after {', '.join(dump)}: {b.out / DUMP_FOLDER}/", markup=False, soft_wrap=True)

    run_guarded(go, ctx.obj["debug"], stages, as_json)


@main.command(short_help="Build, run and compare with TFLite Micro.")
@model_arg
@click.option("--board", default="host", show_default=True, help="Target board (see `edgec boards`).")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [default: build/<model name>].")
@click.option("--inputs", type=click.Path(path_type=Path),
              help="Test vectors: .npz / .npy, an image or a folder of images (as --calib) [default: random].")
@click.option("--samples", type=click.IntRange(1, MAX_SAMPLES),
              help="Number of test vectors [default: 50 random, or all of --inputs].")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the random test vectors (a non-negative integer).")
@click.option("--tolerance", type=click.IntRange(0),
              help="Allowed max |diff| against the reference, in LSB [default: 0 against TFLM, 1 against "
                   "onnxruntime for QDQ models; float32: relative error 1e-5].")
@click.option("--layers", is_flag=True, help="Also compare every layer's output with TFLM (first 5 samples).")
@click.option("--device", is_flag=True, help="Run on the real board (pyOCD) instead of the emulator.")
@schedule_options
@conversion_options
@click.option("--json", "as_json", is_flag=True, help="Print report.json (with its `test` section) on stdout.")
@click.pass_context
def test(ctx, model, board, out, inputs, samples, seed, tolerance, layers, device, sram_budget, flash_budget, patch,
         max_mac_overhead, kernels, optimize, calib, calib_method, calib_samples, mean, std, pixel_scale, dtype,
         input_shape, weight_bits, int4_layers, activations, int16_layers, float_ops, float_layers, as_json):
    """Build MODEL, run it on test vectors (host, emulated board, or the real board with --device) and compare every
    output with TFLite Micro (and LiteRT); a model edgec quantized is also judged against the float model. MODEL may
    be an `edgec train` folder: its model_trained.tflite is tested."""
    from . import validate
    from .compare import table

    model = trained_model(model)
    stages = Stages(as_json)
    schedule = _schedule_kwargs(sram_budget, flash_budget, patch, max_mac_overhead, kernels, optimize)

    def go():
        conversion = _conversion(calib, calib_method, calib_samples, mean, std, pixel_scale, dtype, input_shape,
                                 as_json, weight_bits, int4_layers, activations, int16_layers, float_ops,
                                 float_layers)
        with stages as step:
            r = _with_flash_budget(lambda: validate.test(
                model, out or _default_out(model), board, inputs, samples, seed, tolerance, layers, step,
                device=device, conversion=conversion, **schedule), flash_budget)
        if as_json:
            click.echo(json.dumps(r.build.report))
        else:
            console.print(table(r.rows, f"{escape(display_text(model.name))} on {board}: {r.samples} samples",
                                float32=r.build.report.get("dtype") == "float32"))
            _print_target_figures(r.build.report)
            if r.layers:
                _print_layers(r.layers)
        if not r.passed:
            first = validate.first_differing_layer(r.layers or [])
            where = f"; first differing layer: {first['layer']} ({first['max_abs_diff_lsb']} LSB)" if first else ""
            err.print(f"FAIL: {_verdict(r)}{where}", markup=False, soft_wrap=True)
            for reason in r.failures or []:
                err.print(f"  - {reason}", markup=False, soft_wrap=True)
            sys.exit(1)
        err.print(f"PASS: {_verdict(r)} on {r.samples} samples", markup=False, soft_wrap=True)

    run_guarded(go, ctx.obj["debug"], stages, as_json)


def trained_model(model: Path) -> Path:
    """`edgec test FOLDER` of an `edgec train` folder tests the adapted model it holds (model_trained.tflite)."""
    from .train.command import TRAINED_TFLITE

    if model.is_dir() and (model / TRAINED_TFLITE).is_file():
        return model / TRAINED_TFLITE
    return model


def _verdict(r) -> str:
    t, row = r.build.report["test"], r.rows[0]
    if t["tolerance_lsb"] is None:  # float32 path: judged on the relative error
        from .validate import FLOAT_RTOL

        return (f"float32 relative error {row.max_rel_error:.2e} (tolerance {FLOAT_RTOL:g}; max |diff| "
                f"{row.max_abs_error:.3g}) against {row.reference}")
    if r.build.report.get("dtype") == "float32":  # float32 with --tolerance: counted in float32 ULPs
        return (f"float32 max |diff| {row.max_abs_diff_lsb} ULP against {row.reference} (tolerance "
                f"{t['tolerance_lsb']} ULP)")
    verdict = f"max |diff| {row.max_abs_diff_lsb} LSB against {row.reference} (tolerance {t['tolerance_lsb']} LSB)"
    f = t.get("float_model")
    if f:
        verdict += (f"; against the float model: cosine {f['cosine']:.4f} (bound {f['min_cosine']:g})"
                    + (f", top-1 agreement {100 * f['top1_agreement']:.1f} % (bound "
                       f"{100 * f['min_top1_agreement']:.0f} %)" if f.get("min_top1_agreement") is not None else ""))
    return verdict


def _print_target_figures(report: dict) -> None:
    t = report["test"]
    acc = t.get("accuracy")
    if acc:
        console.print(f"accuracy on {acc['labels']} labelled samples: edgec {100 * acc['edgec_top1']:.2f} %, "
                      f"{t['reference']} {100 * acc['reference_top1']:.2f} %", soft_wrap=True)
    if t.get("instructions_per_inference"):
        console.print(f"{t['target']}: flash {t['flash_bytes']:,} B, peak SRAM {t['peak_sram_bytes']:,} B "
                      f"(arena {report['arena_bytes']:,} + stack {t['stack_bytes'] or 0:,} + statics), "
                      f"{t['instructions_per_inference']:,} instructions/inference "
                      f"({t['instructions_per_mac']:.2f}/MAC; {t['instruction_method']}), "
                      f"~{t['cycles_estimate'] or 0:,} cycles (estimate)", soft_wrap=True)


def _print_layers(rows: list[dict]) -> None:
    from rich.table import Table

    t = Table(title="layer by layer: edgec vs TFLM")
    for col in ["layer", "max |diff| (LSB)", "elements differing"]:
        t.add_column(col)
    for r in rows:
        d = r["max_abs_diff_lsb"]
        t.add_row(escape(display_text(r["layer"])), "n/a" if d is None else str(d),
                  "n/a" if r["mismatch_fraction"] is None else f"{100 * r['mismatch_fraction']:.3f} %")
    console.print(t)


@main.command(short_help="Train a model on the board: sparse-update training compiled to C.")
@model_arg
@click.option("--data", "data", type=click.Path(path_type=Path), required=True,
              help="Training data: an .npz with the input array (x) and integer `labels`.")
@click.option("--eval", "eval_data", type=click.Path(path_type=Path),
              help="Held-out data (.npz with labels): its accuracy with the trained parameters, on the target.")
@click.option("--board", default="host", show_default=True, help="Target board with an FPU, or host.")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [default: build/<model name>_train].")
@click.option("--scheme", default="last:2", show_default=True,
              help="What is trained: head, bias, last:N, a scheme .toml file, or auto: the scheme of largest "
              "measured gain that fits the SRAM budget (docs/training.md).")
@click.option("--classes", type=click.IntRange(2, 100_000), help="A new head with this many classes.")
@click.option("--epochs", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option("--samples", type=click.IntRange(1), help="Train on the first N samples of --data only.")
@click.option("--lr", type=FiniteFloat(), default=0.01, show_default=True, help="Learning rate (SGD).")
@click.option("--rounding", type=click.Choice(["nearest", "stochastic"]),
              help="How a step is rounded into an int8 weight (--weights int8) [default: stochastic; nearest with "
                   "--weights shadow].")
@click.option("--momentum", type=FiniteFloat(), default=0.0, show_default=True,
              help="SGD momentum in [0, 1): a float32 velocity per trained parameter (0: none).")
@click.option("--weights", "weight_mode", type=click.Choice(["int8", "shadow"]), default="int8", show_default=True,
              help="int8: steps rounded into the int8 weights; shadow: fp32 copies of the trained weights (4 B "
                   "each) accumulate the steps, the int8 weights are them rounded to nearest.")
@click.option("--gradients", type=click.Choice(["float32", "fp16"]), default="float32", show_default=True,
              help="Storage of the backward pass's gradients: fp16 halves their bytes (computed in float32, "
                   "rounded to nearest even at each store), used only where it lowers the planned arena.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the sample order and of stochastic rounding.")
@click.option("--sram-budget", type=ByteSize(), help="SRAM the training step may use (e.g. 256k) [default: the "
              "board's].")
@click.option("--search-time", type=FiniteFloat(0, 1e6), default=120.0, show_default=True,
              help="--scheme auto: seconds the gain runs may take (candidates left unmeasured are not chosen).")
@click.option("--search-samples", type=click.IntRange(2), default=256, show_default=True,
              help="--scheme auto: samples of --data the gains are measured on (half trains, half is held back).")
@click.option("--calib", type=click.Path(path_type=Path),
              help="Calibration data for a float model (.npz / .npy / image folder): quantized to int8 first.")
@click.option("--calib-method", type=click.Choice(["minmax", "percentile", "mse", "kl"]), default="minmax",
              show_default=True, help="How activation ranges are chosen from the calibration data.")
@click.option("--input-shape", "input_shape", multiple=True, callback=_input_shapes,
              help="Fix a dynamic ONNX input: NAME=1,3,32,32 (repeatable).")
@click.option("--resume", type=click.Path(path_type=Path),
              help="Start from the trained parameters of an earlier edgec train folder (same model and scheme).")
@click.option("--device", is_flag=True, help="Train on the real board over pyOCD instead of the emulator.")
@click.option("--json", "as_json", is_flag=True, help="Print the training report (report.json) on stdout.")
@click.pass_context
def train(ctx, model, data, eval_data, board, out, scheme, classes, epochs, samples, lr, rounding, momentum,
          weight_mode, gradients, seed, sram_budget, search_time, search_samples, calib, calib_method, input_shape,
          resume, device, as_json):
    """Compile a training step for MODEL (forward int8, backward float32, sparse update: docs/training.md), run it
    on the training data on the host or an emulated board, check it against the numpy reference, report."""
    from .driver import Conversion
    from .train.command import train as run_training
    from .train.graph import TrainingOptions
    from .train.search import SearchOptions

    stages = Stages(as_json)

    def go():
        options = TrainingOptions(lr=lr, rounding=rounding or "", seed=seed, classes=classes, momentum=momentum,
                                  weights=weight_mode, gradients=gradients)
        target = out or Path("build") / f"{_default_out(model).name}_train"
        search = SearchOptions(samples=search_samples, time_s=search_time)
        conversion = Conversion(calib=calib, calib_method=calib_method, input_shapes=input_shape,
                                progress=not as_json)
        with stages as step:
            r = run_training(model, target, data, board, scheme_text=scheme, epochs=epochs, options=options,
                             eval_path=eval_data, samples=samples, sram_budget=sram_budget, search=search,
                             resume=resume, device=device, conversion=conversion, step=step)
        t = r.report["training"]
        if as_json:
            click.echo(json.dumps(r.report))
            return
        losses = ", ".join(f"{v:.4f}" for v in t["loss_per_epoch"])
        err.print(f"trained {t['scheme']} ({t['trained_parameter_bytes']:,} B of parameters) for {t['steps']} steps: "
                  f"loss per epoch {losses}", markup=False, soft_wrap=True)
        if t["eval_accuracy"] is not None:
            err.print(f"held-out accuracy {100 * t['eval_accuracy']:.2f} % on {t['eval_samples']} samples",
                      markup=False)
        if t.get("peak_sram_bytes"):
            err.print(f"peak SRAM {t['peak_sram_bytes']:,} B, {t['instructions_per_step']:,} instructions per step",
                      markup=False)
        err.print(f"C = numpy reference on the first {t['numpy_check']['steps']} steps; report: {r.out}/report.json",
                  markup=False, soft_wrap=True)

    run_guarded(go, ctx.obj["debug"], stages, as_json)


@main.command(short_help="Per-layer table of a build folder or model.")
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print report.json on stdout.")
@click.option("--html", "as_html", is_flag=True,
              help="Write report.html (memory timeline, patch grid, layer table) into the folder "
                   "(for a model: <model>.report.html here).")
@click.pass_context
def report(ctx, target, as_json, as_html):
    """Per-layer table of a build folder (or of a model, compiled on the fly)."""
    from .errors import InputError
    from .report import markdown

    def go():
        if target.is_dir():
            if not (target / "report.json").is_file():
                raise InputError(f"{target} has no report.json: not an edgec output folder")
            data = read_report(target, REPORT_KEYS)
        else:
            from .driver import compile_model
            from .report import compile_report

            data = compile_report(compile_model(target), target, "host")
        try:
            if as_html:
                from .plot import html_report

                page = (target / "report.html") if target.is_dir() else Path(f"{target.stem}.report.html")
                text = html_report(data)
            else:
                text = json.dumps(data) if as_json else markdown(data)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            if not target.is_dir():
                raise  # a report edgec just made: a failure to render it is a bug (exit 5)
            # the keys read_report checks are there; what the file holds below them is not what edgec writes
            raise InputError(f"{target / 'report.json'}: malformed ({type(e).__name__}: {e}); rebuild the folder "
                             "with `edgec build`") from None
        if as_html:
            page.write_text(text)
            if target.is_dir():
                from .outdir import record

                record(target, [page])
            err.print(f"wrote {page}", markup=False)
        else:
            click.echo(text)

    run_guarded(go, ctx.obj["debug"], as_json=as_json)


@main.command(short_help="Flash firmware to a board, or run it under QEMU.")
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--board", required=True, help="Target board (see `edgec boards`).")
@click.option("--emulate", is_flag=True, help="Run on the emulated board (QEMU) instead of flashing a real one.")
@click.option("--inputs", type=click.Path(path_type=Path), help="Test vectors (.npz / .npy) for the run.")
@click.option("--samples", type=click.IntRange(1, MAX_SAMPLES),
              help="Number of test vectors [default: 1 random, or all of --inputs].")
@click.pass_context
def flash(ctx, target, board, emulate, inputs, samples):
    """Flash a built folder's firmware to a real board (pyOCD), or with --emulate run it under QEMU."""
    from . import cortexm, flasher, outdir
    from .board import get_board
    from .data import load_inputs, random_inputs
    from .errors import InputError
    from .importers import import_model

    def go():
        b = get_board(board)
        if not b.is_cortexm:
            raise InputError(f"board `{board}` is not a microcontroller board; see `edgec boards`")
        report_path = target / "report.json"
        if not report_path.is_file():
            raise InputError(f"{target} is not an edgec output folder; run `edgec build MODEL --board {board}` first")
        report = read_report(target, {"board": str, "model": str})
        if "quantized_tflite" in report and not isinstance(report["quantized_tflite"], (str, type(None))):
            raise InputError(f"{report_path}: `quantized_tflite` is not a file name; rebuild the folder")
        if report.get("board") != board:
            raise InputError(f"{target} was built for `{report.get('board')}`, not `{board}`; rebuild with --board")
        if not emulate and not (target / "firmware.elf").is_file():
            raise InputError(f"{target} has no firmware.elf; rebuild it with `edgec build MODEL --board {board}`")
        if not emulate:
            with Stages(False) as step:
                step(f"flash {target / 'firmware.elf'} to {board} ({b.pyocd_target})")
                flasher.flash(target / "firmware.elf", b)
            err.print(f"flashed {board}")
            return
        # the graph whose inputs and outputs the firmware has: a model edgec quantized is its exported int8 file
        g = import_model(target / report["quantized_tflite"] if report.get("quantized_tflite")
                         else Path(report["model"]))
        xs = load_inputs(inputs, g, samples) if inputs else random_inputs(g, samples or 1)
        with Stages(False) as step:
            step(f"build the emulated firmware for {board} ({b.qemu_machine})")
            elf = cortexm.cross_build(target, outdir.sources_of(target), b, emulated=True,
                                      elf_name=cortexm.EMULATED_ELF, graph=g)
            step(f"run {len(xs)} samples under QEMU")
            run = cortexm.run_firmware(elf, b, xs)
        console.print(run.console.strip(), markup=False, soft_wrap=True)
        err.print(f"ran {len(xs)} samples on the emulated {board}: exit {run.returncode}, {run.wall_s:.2f} s",
                  markup=False)

    run_guarded(go, ctx.obj["debug"])


@main.command()
@click.option("--markdown", is_flag=True, help="Print as Markdown (docs/ops.md is generated this way).")
def ops(markdown):
    """Supported operators and their constraints."""
    from .docs import ops_markdown, ops_table

    if markdown:
        click.echo(ops_markdown(), nl=False)
    else:
        console.print(ops_table())


@main.command(short_help="Boards edgec knows: core, memories, emulator, probe.")
@click.option("--markdown", is_flag=True, help="Print as Markdown (the table of docs/boards.md).")
def boards(markdown):
    """Boards edgec knows, with their memories and emulation support."""
    from rich.table import Table

    from .board import all_boards
    from .docs import boards_markdown

    if markdown:
        click.echo(boards_markdown(), nl=False)
        return

    boards = all_boards()
    # the board name is what users type: never wrapped or cut (rich shrinks columns to fit 80 columns or a pipe),
    # and the table is narrow enough (no borders, short headers) that at 80 columns nothing else is cut either
    t = Table(title="boards (SRAM and flash in KB)", box=None, padding=(0, 1, 0, 0), pad_edge=False,
              title_justify="left")
    t.add_column("board", no_wrap=True, min_width=max(len(name) for name in boards))
    for col in ["core", "MHz", "SRAM", "flash", "QEMU machine", "pyOCD target"]:
        t.add_column(col, overflow="fold", justify="right" if col in ("MHz", "SRAM", "flash") else "left")
    for b in boards.values():
        t.add_row(b.name, b.core, f"{b.clock_hz / 1e6:.0f}" if b.clock_hz else "-",
                  f"{b.sram_bytes // 1024}" if b.sram_bytes else "-",
                  f"{b.flash_bytes // 1024}" if b.flash_bytes else "-",
                  b.qemu_machine or "-", b.pyocd_target or "-")
    console.print(t)


if __name__ == "__main__":  # pragma: no cover
    main()
