"""The `edgec` command line (click). Progress and messages go to stderr; `--json` puts one JSON object on stdout.

Exit codes (docs/cli.md): 0 ok, 1 outputs differ beyond tolerance, 2 usage or input error, 3 does not fit the
budget, 4 toolchain/emulator missing or failed, 5 internal error (a bug in edgec; --debug shows the traceback).
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from . import __version__
from .errors import EdgecError

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
            self.status.update(stage)
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
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # a bug in edgec: say so plainly, keep the traceback for --debug
        if debug:
            traceback.print_exc()
        err.print(f"internal error: {type(e).__name__}: {e}\n(this is a bug in edgec; rerun with --debug for the "
                  "traceback and report it)", markup=False)
        sys.exit(EXIT_INTERNAL)


model_arg = click.argument("model", type=click.Path(path_type=Path))


@click.group(context_settings=dict(help_option_names=["-h", "--help"]))
@click.version_option(__version__, prog_name="edgec")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def main(ctx, debug):
    """edgec: int8 neural networks to plain C99 for microcontrollers, validated against TFLite Micro."""
    ctx.obj = dict(debug=debug)


def _default_out(model: Path) -> Path:
    return Path("build") / model.stem


@main.command()
@model_arg
@click.option("--board", default="host", show_default=True, help="Target board (see `edgec boards`).")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [default: build/<model name>].")
@click.option("--json", "as_json", is_flag=True, help="Print report.json on stdout.")
@click.pass_context
def build(ctx, model, board, out, as_json):
    """Compile MODEL into a C folder: model.c/h, weights.c, runtime/, main.c, Makefile, report."""
    from . import driver

    def go():
        with Stages(as_json) as step:
            b = driver.build(model, out or _default_out(model), board, step)
        if as_json:
            click.echo(json.dumps(b.report))
            return
        r = b.report
        err.print(f"wrote {b.out}/: {len(b.graph.ops)} layers, {r['macs']:,} MACs, arena {r['arena_bytes']:,} B "
                  f"(lower bound {r['lower_bound_bytes']:,} B), weights {r['weights_bytes']:,} B", markup=False)

    run_guarded(go, ctx.obj["debug"])


@main.command()
@model_arg
@click.option("--board", default="host", show_default=True, help="Target board (see `edgec boards`).")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [default: build/<model name>].")
@click.option("--inputs", type=click.Path(path_type=Path), help="Test vectors (.npz / .npy); default: random.")
@click.option("--samples", default=50, show_default=True, type=click.IntRange(1), help="Number of test vectors.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random test vectors.")
@click.option("--tolerance", default=0, show_default=True, type=click.IntRange(0),
              help="Allowed max |diff| against TFLM, in LSB.")
@click.option("--layers", is_flag=True, help="Also compare every layer's output with TFLM (first 5 samples).")
@click.option("--json", "as_json", is_flag=True, help="Print report.json (with its `test` section) on stdout.")
@click.pass_context
def test(ctx, model, board, out, inputs, samples, seed, tolerance, layers, as_json):
    """Build MODEL, run it on test vectors and compare every output with TFLite Micro (and LiteRT)."""
    from . import driver
    from .compare import table

    def go():
        with Stages(as_json) as step:
            r = driver.test(model, out or _default_out(model), board, inputs, samples, seed, tolerance, layers, step)
        if as_json:
            click.echo(json.dumps(r.build.report))
        else:
            console.print(table(r.rows, f"{model.name} on {board}: {r.samples} samples"))
            if r.layers:
                _print_layers(r.layers)
        if not r.passed:
            first = driver.first_differing_layer(r.layers or [])
            where = f"; first differing layer: {first['layer']} ({first['max_abs_diff_lsb']} LSB)" if first else ""
            err.print(f"FAIL: max |diff| {r.rows[0].max_abs_diff_lsb} LSB against TFLM exceeds the tolerance "
                      f"{tolerance}{where}", markup=False)
            sys.exit(1)
        err.print(f"PASS: within {tolerance} LSB of TFLM on {r.samples} samples", markup=False)

    run_guarded(go, ctx.obj["debug"])


def _print_layers(rows: list[dict]) -> None:
    from rich.table import Table

    t = Table(title="layer by layer: edgec vs TFLM")
    for col in ["layer", "max |diff| (LSB)", "elements differing"]:
        t.add_column(col)
    for r in rows:
        d = r["max_abs_diff_lsb"]
        t.add_row(r["layer"], "n/a" if d is None else str(d),
                  "n/a" if r["mismatch_fraction"] is None else f"{100 * r['mismatch_fraction']:.3f} %")
    console.print(t)


@main.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print report.json on stdout.")
@click.pass_context
def report(ctx, target, as_json):
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
            from .driver import compile_model, sha256
            from .report import make_report

            g, plan = compile_model(target)
            data = make_report(g, plan, target, "host", version, sha256(target))
        if as_json:
            click.echo(json.dumps(data))
        else:
            click.echo(markdown(data))

    run_guarded(go, ctx.obj["debug"])


@main.command()
@click.option("--markdown", is_flag=True, help="Print as Markdown (docs/ops.md is generated this way).")
def ops(markdown):
    """Supported operators and their constraints."""
    from .docs import ops_markdown, ops_table

    if markdown:
        click.echo(ops_markdown())
    else:
        console.print(ops_table())


@main.command()
def boards():
    """Boards edgec knows, with their memories and emulation support."""
    from rich.table import Table

    from .board import all_boards

    t = Table(title="boards")
    for col in ["board", "core", "clock", "SRAM", "flash", "emulated by", "flasher"]:
        t.add_column(col)
    for b in all_boards().values():
        sram = sum(r["size"] for r in b.regions if r.get("kind") == "sram")
        flash = sum(r["size"] for r in b.regions if r.get("kind") == "flash")
        t.add_row(b.name, b.core, f"{b.clock_hz / 1e6:.0f} MHz" if b.clock_hz else "-",
                  f"{sram // 1024} KB" if sram else "-", f"{flash // 1024} KB" if flash else "-",
                  b.emulator, b.flasher)
    console.print(t)


if __name__ == "__main__":  # pragma: no cover
    main()
