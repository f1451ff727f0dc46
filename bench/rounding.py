"""How to update int8 weights on the device, measured (the default of edgec train is the update that measures
better): nearest vs stochastic rounding of each step into the int8 weights vs fp32 shadow weights (--weights
shadow), each without and with momentum, on real data.

The task (as docs/training.md's figures): the MLPerf Tiny ResNet-8 (CIFAR-10) adapted to MNIST digits with a new
zero-initialized 10-class head, scheme last:2 (the head, the last 3x3 conv and the 1x1 shortcut of stack 3,
weights and biases), one epoch over the first --steps digits of mnist-10k (batch 1, a seeded shuffle), then the
held-out accuracy on the last --eval digits (never trained on), computed by the generated C on the host
(`edgec train --board host --eval`, which also checks its first 8 steps against the numpy reference).

Momentum 0 runs at --lr; momentum M runs at lr * (1 - M), the same step size once the velocity has built up
(v -> step / (1 - M)): the comparison is then of what the velocity does to the rounding and the noise, not of a
ten times larger learning rate.

    .venv/bin/python bench/rounding.py [--steps 1500] [--eval 1000] [--seeds 0 1] [--jobs 2]
                                       [--out bench/results/rounding.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT.parent / "shared" / "models" / "mlperf-tiny" / "pretrainedResnet_quant.tflite"
MNIST = ROOT.parent / "shared" / "data" / "mnist-10k.npz"
EDGEC = ROOT / ".venv" / "bin" / "edgec"

#: (label, --rounding, --weights)
UPDATES = [("nearest", "nearest", "int8"), ("stochastic", "stochastic", "int8"), ("shadow fp32", "nearest", "shadow")]


def write_data(folder: Path, steps: int, n_eval: int) -> tuple[Path, Path]:
    d = np.load(MNIST)
    x = np.pad(d["images"].astype(np.float32), ((0, 0), (2, 2), (2, 2)))[..., None].repeat(3, axis=3)
    labels = d["labels"].astype(np.int64)
    assert steps + n_eval <= len(x)
    np.savez(folder / "train.npz", x=x[:steps], labels=labels[:steps])
    np.savez(folder / "eval.npz", x=x[len(x) - n_eval:], labels=labels[len(x) - n_eval:])
    return folder / "train.npz", folder / "eval.npz"


def run(folder: Path, train: Path, evaluation: Path, rounding: str, weights: str, momentum: float, lr: float,
        seed: int) -> dict:
    out = folder / f"{rounding}-{weights}-{momentum}-{seed}"
    cmd = [str(EDGEC), "train", str(MODEL), "--data", str(train), "--eval", str(evaluation), "--classes", "10",
           "--scheme", "last:2", "--lr", repr(lr), "--rounding", rounding, "--weights", weights, "--momentum",
           repr(momentum), "--seed", str(seed), "--board", "host", "--out", str(out), "--json"]
    start = time.time()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr}")
    t = json.loads(res.stdout)["training"]
    assert t["numpy_check"]["passed"]
    return dict(accuracy=t["eval_accuracy"], loss=t["loss_per_epoch"][-1], seconds=time.time() - start,
                state_bytes=t["optimizer_state_bytes"], param_bytes=t["trained_parameter_bytes"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--eval", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rounding.md")
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    start = time.time()
    configs = [(label, rounding, weights, m, args.lr * (1 - m), seed) for m in (0.0, args.momentum)
               for label, rounding, weights in UPDATES for seed in args.seeds]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train, evaluation = write_data(folder, args.steps, args.eval)
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda c: run(folder, train, evaluation, c[1], c[2], c[3], c[4], c[5]), configs))
    by: dict[tuple[str, float], list[dict]] = {}
    for c, r in zip(configs, results, strict=True):
        by.setdefault((c[0], c[3]), []).append(r)
        print(f"{c[0]:12s} M={c[3]} lr={c[4]:.4g} seed {c[5]}: {100 * r['accuracy']:.1f} % ({r['seconds']:.0f} s)",
              file=sys.stderr)
    lines = [
        "# int8 weight updates: nearest vs stochastic vs fp32 shadow, momentum 0 vs "
        f"{args.momentum} (`bench/rounding.py`)", "",
        f"ResNet-8 (MLPerf Tiny, int8) -> MNIST with a new 10-class head, `--scheme last:2`, one epoch of "
        f"{args.steps} steps (batch 1), held-out accuracy on the last {args.eval} digits of mnist-10k, computed by "
        f"the generated C on the host (`edgec train --board host --eval`); seeds {', '.join(map(str, args.seeds))} "
        f"(sample order and stochastic rounding). lr {args.lr} without momentum, lr x (1 - M) with momentum M "
        f"(the same step once the velocity has built up). Commit {commit}, {(time.time() - start) / 60:.1f} "
        f"minutes with {args.jobs} jobs.", "",
        "| update | momentum | lr | held-out accuracy per seed | mean | final-epoch loss (mean) | optimizer state |",
        "|---|---:|---:|---|---:|---:|---:|"]
    best = max(by, key=lambda k: np.mean([r["accuracy"] for r in by[k]]))
    for (label, m), rs in by.items():
        accs = [r["accuracy"] for r in rs]
        mean = f"{100 * np.mean(accs):.1f} %"
        lines.append(f"| {label} | {m} | {args.lr * (1 - m):.4g} | {' / '.join(f'{100 * a:.1f} %' for a in accs)} | "
                     f"{'**' + mean + '**' if (label, m) == best else mean} | {np.mean([r['loss'] for r in rs]):.4f} "
                     f"| {rs[0]['state_bytes']:,} B |")
    lines += ["", f"Best mean: {best[0]}, momentum {best[1]}. Optimizer state is SRAM beside the trained parameters "
              "(velocities: 4 B per trained weight, bias and head parameter; shadow: 4 B per trained int8 weight).", ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
