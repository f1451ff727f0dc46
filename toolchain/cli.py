"""The `edgec` command line (click). Progress and messages go to stderr; `--json` puts one JSON object on stdout.

Exit codes (docs/cli.md): 0 ok, 1 outputs differ beyond tolerance, 2 usage or input error, 3 does not fit the
budget, 4 toolchain/emulator missing or failed, 5 internal error (a bug in edgec; --debug shows the traceback).
"""

from __future__ import annotations

import json
import signal
import sys
import traceback
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from . import __version__
from .c_text import display_text
from .errors import EdgecError, Terminated

err = Console(stderr=True, highlight=False)
console = Console(highlight=False)
EXIT_INTERNAL = 5


class Stages:
    """Shows each stage as it starts (on stderr), with a spinner while it runs."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.status = None

    def __enter__(self):
        if not self.quiet:
            self.status = err.status("starting")
            self.status.__enter__()
        return self

    def __call__(self, stage: str) -> None:
        if self.status is not None:
            self.status.update(escape(stage))  # stages name user paths: text, not markup
            err.print(f"[dim]- {escape(stage)}[/]")

    def __exit__(self, *exc):
        if self.status is not None:
            self.status.__exit__(*exc)


def run_guarded(fn, debug: bool):
    try:
        return fn()
    except EdgecError as e:
        if debug:
            traceback.print_exc()
        err.print(f"[bold red]error:[/] {escape(e.message)}", markup=True, soft_wrap=True)  # messages hold [..]
        sys.exit(e.code)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated): the `finally`s above have cleaned up
        err.print("interrupted")
        sys.exit(143 if isinstance(e, Terminated) else 130)
    except Exception as e:  # a bug in edgec: say so plainly, keep the traceback for --debug
        if debug:
            traceback.print_exc()
        err.print(f"internal error: {type(e).__name__}: {e}\n(this is a bug in edgec; rerun with --debug for the "
                  "traceback and report it)", markup=False)
        sys.exit(EXIT_INTERNAL)


model_arg = click.argument("model", type=click.Path(path_type=Path))


class ByteSize(click.ParamType):
    """512, 64k, 64K, 64KiB, 1M, 1.5MB: binary multiples (k = 1024), as board datasheets count SRAM and flash."""

    name = "size"
    units = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().replace("_", "").replace(",", "")
        number = text.rstrip("kmib")
        unit = text[len(number):]
        try:
            size = int(float(number) * self.units[unit])
        except (ValueError, KeyError):
            self.fail(f"{value!r} is not a size (examples: 65536, 64k, 1M)", param, ctx)
        if size <= 0:
            self.fail(f"{value!r}: a budget must be positive", param, ctx)
        return size


def schedule_options(fn):
    """The memory-schedule flags shared by build and test (docs/memory.md)."""
    for option in reversed([
        click.option("--sram-budget", type=ByteSize(), help="SRAM for edgec (arena + stack) [default: the board's]."),
        click.option("--flash-budget", type=ByteSize(), help="Flash for code + weights [default: the board's]."),
        click.option("--patch/--no-patch", "patch", default=None,
                     help="Patch-based first stage: always take the smallest arena / never "
                          "[default: only when layer by layer does not fit the budget]."),
        click.option("--max-mac-overhead", type=click.FloatRange(0, 1000), default=20.0, show_default=True,
                     help="Patch search: most extra MACs allowed for the recomputed halos, in percent."),
    ]):
        fn = option(fn)
    return fn


def _schedule_kwargs(sram_budget, flash_budget, patch, max_mac_overhead) -> dict:
    return dict(sram_budget=sram_budget, flash_budget=flash_budget, patch=patch,
                max_mac_overhead=max_mac_overhead / 100)


def _floats(ctx, param, text: str | None) -> tuple[float, ...] | None:
    """Option callback: '0.485,0.456,0.406' -> floats (click reports a bad value as a usage error, exit 2)."""
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: comma-separated numbers, e.g. 0.485,0.456,0.406") from None


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
                     help="Image-folder preprocessing: per-channel mean subtracted (after --scale)."),
        click.option("--std", callback=_floats, help="Image-folder preprocessing: per-channel divisor (after --mean)."),
        click.option("--scale", "pixel_scale", type=float, help="Image-folder preprocessing: pixels multiplied first "
                                                                 "(e.g. 0.00392157 for 1/255)."),
        click.option("--dtype", type=click.Choice(["int8", "float32"]), default="int8", show_default=True,
                     help="float32 keeps a float model in float (cores with an FPU)."),
        click.option("--input-shape", "input_shape", multiple=True, callback=_input_shapes,
                     help="Fix a dynamic ONNX input: NAME=1,3,32,32 (repeatable)."),
    ]):
        fn = option(fn)
    return fn


def _conversion(calib, calib_method, calib_samples, mean, std, pixel_scale, dtype, input_shape, quiet: bool):
    from .driver import Conversion

    return Conversion(dtype=dtype, calib=calib, calib_method=calib_method, calib_limit=calib_samples,
                      mean=mean, std=std, scale=pixel_scale, input_shapes=input_shape, progress=not quiet)


@click.group(context_settings=dict(help_option_names=["-h", "--help"]))
@click.version_option(__version__, prog_name="edgec")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def main(ctx, debug):
    """edgec: int8 neural networks to plain C99 for microcontrollers, validated against TFLite Micro."""
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM unwinds like Ctrl-C: no staging folder is left behind
    ctx.obj = dict(debug=debug)


def _terminate(signum, frame):
    raise Terminated()


def _default_out(model: Path) -> Path:
    return Path("build") / model.stem


@main.command()
@model_arg
@click.option("--board", default="host", show_default=True, help="Target board (see `edgec boards`).")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [default: build/<model name>].")
@schedule_options
@conversion_options
@click.option("--json", "as_json", is_flag=True, help="Print report.json on stdout.")
@click.option("--report", "as_report", is_flag=True, help="Print report.md (schedule, per-layer table) on stdout.")
@click.pass_context
def build(ctx, model, board, out, sram_budget, flash_budget, patch, max_mac_overhead, calib, calib_method,
          calib_samples, mean, std, pixel_scale, dtype, input_shape, as_json, as_report):
    """Compile MODEL (.tflite or .onnx) into a C folder: model.c/h, weights.c, runtime/, main.c, Makefile, report."""
    from . import driver

    def go():
        conversion = _conversion(calib, calib_method, calib_samples, mean, std, pixel_scale, dtype, input_shape,
                                 as_json)
        with Stages(as_json) as step:
            b = driver.build(model, out or _default_out(model), board, step, conversion=conversion,
                             **_schedule_kwargs(sram_budget, flash_budget, patch, max_mac_overhead))
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
                      f"{r['flash_budget_bytes']:,} B, static SRAM {r['static_sram_bytes']:,} of {r['sram_budget_bytes']:,} B "
                      "(+ stack, measured by `edgec test --board`)", markup=False, soft_wrap=True)

    run_guarded(go, ctx.obj["debug"])


@main.command()
@model_arg
@click.option("--board", default="host", show_default=True, help="Target board (see `edgec boards`).")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [default: build/<model name>].")
@click.option("--inputs", type=click.Path(path_type=Path), help="Test vectors (.npz / .npy); default: random.")
@click.option("--samples", type=click.IntRange(1), help="Number of test vectors [default: 50 random, or all of --inputs].")
@click.option("--seed", default=0, show_default=True, help="Seed of the random test vectors.")
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
         max_mac_overhead, calib, calib_method, calib_samples, mean, std, pixel_scale, dtype, input_shape, as_json):
    """Build MODEL, run it on test vectors and compare every output with TFLite Micro (and LiteRT)."""
    from . import driver
    from .compare import table

    def go():
        conversion = _conversion(calib, calib_method, calib_samples, mean, std, pixel_scale, dtype, input_shape,
                                 as_json)
        with Stages(as_json) as step:
            r = driver.test(model, out or _default_out(model), board, inputs, samples, seed, tolerance, layers, step,
                            device=device, conversion=conversion,
                            **_schedule_kwargs(sram_budget, flash_budget, patch, max_mac_overhead))
        if as_json:
            click.echo(json.dumps(r.build.report))
        else:
            console.print(table(r.rows, f"{escape(display_text(model.name))} on {board}: {r.samples} samples"))
            _print_target_figures(r.build.report)
            if r.layers:
                _print_layers(r.layers)
        if not r.passed:
            first = driver.first_differing_layer(r.layers or [])
            where = f"; first differing layer: {first['layer']} ({first['max_abs_diff_lsb']} LSB)" if first else ""
            err.print(f"FAIL: {_verdict(r)}{where}", markup=False, soft_wrap=True)
            sys.exit(1)
        err.print(f"PASS: {_verdict(r)} on {r.samples} samples", markup=False, soft_wrap=True)

    run_guarded(go, ctx.obj["debug"])


def _verdict(r) -> str:
    t, row = r.build.report["test"], r.rows[0]
    if t["tolerance_lsb"] is None:  # float32 path: judged on the relative error
        from .driver import FLOAT_RTOL

        return (f"float32 max |diff| {row.max_abs_error:.3g} (relative {row.max_rel_error:.2e}, tolerance "
                f"{FLOAT_RTOL:g}) against {row.reference}")
    return f"max |diff| {row.max_abs_diff_lsb} LSB against {row.reference} (tolerance {t['tolerance_lsb']} LSB)"


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


@main.command()
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
            path = target / "report.json"
            if not path.is_file():
                raise InputError(f"{target} has no report.json: not an edgec output folder")
            data = json.loads(path.read_text())
        else:
            from . import __version__ as version
            from .driver import compile_stages, schedule_report, sha256
            from .report import make_report

            c = compile_stages(target)
            data = make_report(c.graph, c.plan, target, "host", version, sha256(target))
            data.update(schedule_report(c))
        if as_html:
            from .plot import html_report

            page = (target / "report.html") if target.is_dir() else Path(f"{target.stem}.report.html")
            page.write_text(html_report(data))
            if target.is_dir():
                from .outdir import record

                record(target, [page])
            err.print(f"wrote {page}", markup=False)
            return
        if as_json:
            click.echo(json.dumps(data))
        else:
            click.echo(markdown(data))

    run_guarded(go, ctx.obj["debug"])


@main.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--board", required=True, help="Target board (see `edgec boards`).")
@click.option("--emulate", is_flag=True, help="Run on the emulated board (QEMU) instead of flashing a real one.")
@click.option("--inputs", type=click.Path(path_type=Path), help="Test vectors (.npz / .npy) for the run.")
@click.option("--samples", type=click.IntRange(1), help="Number of test vectors [default: 1 random, or all of --inputs].")
@click.pass_context
def flash(ctx, target, board, emulate, inputs, samples):
    """Flash a built folder's firmware to a real board (pyOCD), or with --emulate run it under QEMU."""
    from . import cortexm, driver, flasher
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
        report = json.loads(report_path.read_text())
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
            elf = cortexm.cross_build(target, driver.sources_of(target), b, emulated=True,
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


@main.command()
@click.option("--markdown", is_flag=True, help="Print as Markdown (the table of docs/boards.md).")
def boards(markdown):
    """Boards edgec knows, with their memories and emulation support."""
    from rich.table import Table

    from .board import all_boards
    from .docs import boards_markdown

    if markdown:
        click.echo(boards_markdown(), nl=False)
        return

    t = Table(title="boards")
    for col in ["board", "core", "clock", "SRAM", "flash", "emulated by", "flasher"]:
        t.add_column(col)
    for b in all_boards().values():
        t.add_row(b.name, b.core, f"{b.clock_hz / 1e6:.0f} MHz" if b.clock_hz else "-",
                  f"{b.sram_bytes // 1024} KB" if b.sram_bytes else "-",
                  f"{b.flash_bytes // 1024} KB" if b.flash_bytes else "-",
                  b.qemu_machine or "-", f"pyocd ({b.pyocd_target})" if b.pyocd_target else b.flasher)
    console.print(t)


if __name__ == "__main__":  # pragma: no cover
    main()
