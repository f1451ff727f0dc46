"""`edgec report DIR --html`: one self-contained HTML page drawn from report.json with matplotlib.

Three pictures of the memory schedule and a table:
- the memory timeline: live activation bytes at every step, layer by layer and (when the build has one) with the
  patch-based first stage, against the arena budget, the lower bound and TFLM's arena;
- the patch grid: the split tensor's output patches and the input window (receptive field with halo) each one
  reads, drawn over the input image, so the recomputed overlap is visible;
- the per-layer table (MACs, weights, live bytes, output shape).
Figures are PNGs embedded as base64, so the page is one file that can be mailed or attached to a CI run.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on build machines; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from .c_text import display_text  # noqa: E402


def _figure_text(s: object) -> str:
    """Text in a matplotlib title: `$` would start mathtext (and a malformed formula raises), so it is escaped."""
    return display_text(s).replace("$", r"\$")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def timeline_figure(report: dict) -> str:
    """Live bytes per step; one line per schedule, horizontal lines for the budget, the arena and TFLM."""
    timeline = report.get("timeline") or {"layer_by_layer": [layer["live_bytes"] for layer in report["layers"]]}
    fig, ax = plt.subplots(figsize=(10, 4))
    styles = {"layer_by_layer": ("layer by layer", "tab:blue"), "patched": ("patch-based first stage", "tab:green")}
    for key, values in timeline.items():
        if values:
            label, color = styles.get(key, (key, None))
            ax.step(range(len(values)), [v / 1024 for v in values], where="mid", label=label, color=color)
    lines = [("arena (chosen plan)", report.get("arena_bytes"), "black", "-"),
             ("arena budget", report.get("arena_budget_bytes"), "tab:red", "--"),
             ("TFLM arena (non-persistent head)", (report.get("tflm_arena_bytes") or {}).get("head"), "tab:orange",
              ":")]
    for label, value, color, style in lines:
        if value:
            ax.axhline(value / 1024, color=color, linestyle=style, linewidth=1, label=f"{label}: {value:,} B")
    ax.set_xlabel("step (layer index; the patch stage's steps repeat once per patch)")
    ax.set_ylabel("live activation KiB")
    ax.set_title(f"memory timeline: {_figure_text(Path(report['model']).name)}")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def patch_figure(patch: dict) -> str | None:
    """The input image with each patch's input window (the receptive field of its output tile) outlined."""
    regions = patch.get("patch_input_regions") or []  # (y0, x0, h, w) per patch, in input pixels
    if not regions:
        return None
    h = max(y0 + rh for y0, _, rh, _ in regions)  # the windows together cover the whole input
    w = max(x0 + rw for _, x0, _, rw in regions)
    fig, ax = plt.subplots(figsize=(5, 5 * h / max(w, 1)))
    ax.add_patch(Rectangle((0, 0), w, h, fill=False, edgecolor="black", linewidth=2))
    cmap = plt.get_cmap("tab10")
    for k, (y0, x0, rh, rw) in enumerate(regions):
        ax.add_patch(Rectangle((x0, y0), rw, rh, alpha=0.15, facecolor=cmap(k % 10), edgecolor=cmap(k % 10),
                               linewidth=1.5))
        ax.text(x0 + rw / 2, y0 + rh / 2, str(k), ha="center", va="center", fontsize=8)
    ax.set_xlim(-1, w + 1)
    ax.set_ylim(h + 1, -1)  # image coordinates: row 0 at the top
    ax.set_aspect("equal")
    rows, cols = patch.get("grid", ["?", "?"])
    # "#3 DEPTHWISE_CONV_2D", without the long name
    layer = _figure_text(str(patch.get("split_layer", "?")).split(" (")[0])
    ax.set_title(f"{rows}x{cols} patches up to {layer}:\ninput windows, halos overlap ({h}x{w} input)", fontsize=9)
    return _png(fig)


def loss_figure(training: dict) -> str:
    """The training loss: the mean of each block of steps, against the step."""
    curve = training["loss_curve"]
    block = curve["block_steps"]
    values = curve["mean_loss"]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.plot([block * k + block / 2 for k in range(len(values))], values, color="tab:blue")
    ax.set_xlabel(f"training step (mean over blocks of {block})")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(f"training loss: scheme {_figure_text(training['scheme'])}, lr {training['lr']}, "
                 f"{training['rounding']} rounding")
    ax.grid(alpha=0.3)
    return _png(fig)


def training_html(t: dict, esc) -> list[str]:
    """The training section of report.html: what is trained, the run, memory per phase, the loss curve."""
    def pct(v):
        return f"{100 * v:.2f} %" if v is not None else None

    facts = [("scheme", t["scheme"]), ("steps", f"{t['steps']:,} ({t['epochs']} epochs)"), ("lr", t["lr"]),
             ("rounding", t["rounding"]), ("trained parameters", f"{t['trained_parameter_bytes']:,} B"),
             ("held-out accuracy (C, float head)", pct(t.get("eval_accuracy"))),
             ("held-out accuracy (TFLM, model_trained.tflite)", pct(t.get("tflm_eval_accuracy"))),
             ("instructions per step", f"{t['instructions_per_step']:,}" if t.get("instructions_per_step") else None),
             ("C = numpy reference", f"first {t['numpy_check']['steps']} steps, "
                                     f"{'equal' if t['numpy_check']['passed'] else 'DIFFERENT'}")]
    parts = ["<h2>Training</h2><ul>"]
    parts += [f"<li><b>{esc(k)}</b>: {esc(str(v))}</li>" for k, v in facts if v not in (None, "")]
    parts.append("</ul><h3>What is trained</h3><table><tr><th>layer</th><th>bias</th><th>weight channels</th></tr>")
    parts.append("<tr><td>the head (float32)</td><td>yes</td><td>all</td></tr>")
    for name, lt in t["trained_layers"].items():
        parts.append(f"<tr><td>{esc(name)}</td><td>{'yes' if lt['train_bias'] else 'no'}</td>"
                     f"<td>{lt['weight_channels']}</td></tr>")
    parts.append("</table><h3>Memory per phase</h3><table>")
    parts += [f"<tr><td>{esc(k.replace('_', ' '))}</td><td>{v:,}</td></tr>" for k, v in t["memory"].items()]
    parts.append("</table><h3>Loss</h3>")
    parts.append(f"<img alt='training loss' src='data:image/png;base64,{loss_figure(t)}'>")
    return parts


def html_report(report: dict) -> str:
    def esc(s: str) -> str:
        return html.escape(display_text(s))

    name = Path(report["model"]).name
    facts = [("board", report.get("board")), ("MACs", f"{report['macs']:,}"),
             ("arena", f"{report['arena_bytes']:,} B"), ("lower bound", f"{report['lower_bound_bytes']:,} B"),
             ("planner strategy", report.get("strategy")), ("schedule", report.get("schedule", "layer by layer")),
             ("why", report.get("schedule_reason", "")), ("weights (flash)", f"{report['weights_bytes']:,} B")]
    tflm = report.get("tflm_arena_bytes")
    if tflm:
        facts.append(("TFLM arena (same model)", f"total {tflm['total']:,} B, non-persistent head {tflm['head']:,} B"))
    if report.get("arena_budget_bytes"):
        facts.append(("arena budget", f"{report['arena_budget_bytes']:,} B"))
    patch = report.get("patch")
    if patch:
        facts.append(("patch plan", f"{patch['grid'][0]}x{patch['grid'][1]} patches, split after "
                                    f"{patch['split_layer']}, MAC overhead {100 * patch['mac_overhead']:.1f} %"))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>edgec report: {esc(name)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:nth-child(2),td:nth-child(3)"
             "{text-align:left}</style></head><body>",
             f"<h1>edgec report: {esc(name)}</h1><ul>"]
    parts += [f"<li><b>{esc(k)}</b>: {esc(str(v))}</li>" for k, v in facts if v not in (None, "")]
    parts.append("</ul>")
    if report.get("training"):
        parts += training_html(report["training"], esc)
    parts.append("<h2>Memory timeline</h2>")
    parts.append(f"<img alt='memory timeline' src='data:image/png;base64,{timeline_figure(report)}'>")
    if patch:
        grid = patch_figure(patch)
        if grid:
            parts.append("<h2>Patch plan</h2>")
            parts.append(f"<img alt='patch grid' src='data:image/png;base64,{grid}'>")
    parts.append("<h2>Layers</h2><table><tr><th>#</th><th>layer</th><th>op</th><th>MACs</th><th>weight B</th>"
                 "<th>live B</th><th>output shape</th></tr>")
    for k, layer in enumerate(report["layers"]):
        parts.append(f"<tr><td>{k}</td><td>{esc(layer['name'])}</td><td>{esc(layer['op'])}</td>"
                     f"<td>{layer['macs']:,}</td><td>{layer['weight_bytes']:,}</td><td>{layer['live_bytes']:,}</td>"
                     f"<td>{esc(str(layer['output_shape']))}</td></tr>")
    parts.append("</table></body></html>\n")
    return "".join(parts)
