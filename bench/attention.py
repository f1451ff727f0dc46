"""Row-wise attention (MCUFormer's memory point) on a tiny ViT, with and without the fused op, on the emulated
Cortex-M7 (nucleo_f746zg, float32 with its FPU) and on the host.

The ViT (PyTorch, exported with torch.onnx.export at opset 17): a 4x4-patch Conv embedding, a class token,
positional embeddings, 2 pre-norm blocks (2 heads, dim 32, MLP 64, GELU), a final LayerNorm and a linear head.
Image sizes 16 (17 tokens) and 32 (65 tokens); for each, `edgec test --dtype float32` twice: as the planner
chooses (the fused op only where it lowers the arena), and forced the other way. Reported: arena, peak SRAM
(arena + stack + state, measured on the board), instructions per inference and the error against onnxruntime
(tests/host/test_attention.py checks on the host that the two builds' outputs are the same bits).

    .venv/bin/python bench/attention.py [--board nucleo_f746zg] [--out bench/results/attention.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the ViT builder the tests share
from onnx_models import tiny_vit  # noqa: E402

from edgec import attention, driver, validate
from edgec.schedule import reorder_for_memory


def export_vit(path: Path, img: int) -> Path:
    return tiny_vit(path, 17, img=img, random_norms=False)


def run(model: Path, out: Path, board: str, inputs: Path, mode: str) -> dict:
    original = driver.choose_attention
    if mode == "fused":
        driver.choose_attention = lambda g: reorder_for_memory(attention.fuse_attention(g)[0])  # type: ignore
    elif mode == "unfused":
        driver.choose_attention = lambda g: g  # type: ignore
    try:
        r = validate.test(model, out, board, inputs=inputs, conversion=driver.Conversion(dtype="float32"))
    finally:
        driver.choose_attention = original  # type: ignore
    rep, t = r.build.report, r.build.report["test"]
    ops = [op.type for op in r.build.graph.ops]
    return dict(mode=mode, fused_ops=ops.count("attention"), arena=rep["arena_bytes"],
                peak=t.get("peak_sram_bytes") or rep.get("peak_sram_bytes"), insns=t.get("instructions_per_inference"),
                rel=t["max_rel_error"], passed=t["passed"], choice=r.build.graph.meta.get("attention"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="nucleo_f746zg")
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    lines = [f"# Row-wise attention on a tiny ViT (bench/attention.py, {args.board}, float32, "
             f"{args.samples} images)", "",
             "Arena as planned; peak SRAM = static SRAM + the measured stack; instructions counted under QEMU.", "",
             "| image (tokens) | build | attention ops | arena B | peak SRAM B | instructions / inference | "
             "rel. error vs onnxruntime |", "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for img in (16, 32):
            model = export_vit(folder / f"vit{img}.onnx", img)
            rng = np.random.default_rng(img)
            np.savez(folder / f"x{img}.npz", x=rng.standard_normal((args.samples, 1, 3, img, img)).astype(np.float32))
            auto = run(model, folder / f"auto{img}", args.board, folder / f"x{img}.npz", "auto")
            other = run(model, folder / f"other{img}", args.board, folder / f"x{img}.npz",
                        "unfused" if auto["fused_ops"] else "fused")
            tokens = (img // 4) ** 2 + 1
            for row, label in ((auto, "planner's choice"), (other, "forced")):
                lines.append(f"| {img} ({tokens}) | {label}: {'fused' if row['fused_ops'] else 'chain'} | "
                             f"{row['fused_ops']} | {row['arena']:,} | {row['peak']:,} | {row['insns']:,} | "
                             f"{row['rel']:.2e} |")
            print("\n".join(lines), flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
