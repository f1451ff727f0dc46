"""What fp16 storage of the training step's gradients would do to accuracy, simulated in the numpy reference:
every float32 tensor a backward op writes (the gradients: the loss and logits aside) is rounded through float16
as soon as it is written, so every later op reads what fp16 storage would hold, and the updates are computed from
those. The float32 run is edgec's numpy reference as is (bit-exact with the generated C). There are no fp16
kernels in edgec (docs/training.md, "Memory tricks"): this measures whether writing them would be worth it.

ResNet-8 (MLPerf Tiny, int8) adapted to MNIST with a new 10-class head, SCHEME (default `last:2`), LR (default 0.1),
stochastic rounding, seed 0: the first N digits of mnist-10k.npz (shared data folder beside the repository) one
step each, in order, then the held-out accuracy on the next NE digits.

    .venv/bin/python bench/fp16_gradients.py [N [NE [SCHEME [LR]]]]    # default 1000 1000 last:2 0.1
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from edgec.driver import compile_model
from edgec.train import run as train_run
from edgec.train.graph import TrainingOptions, build_training_graph, find_head
from edgec.train.scheme import parse_scheme

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODEL = SHARED / "models" / "mlperf-tiny" / "pretrainedResnet_quant.tflite"
MNIST = SHARED / "data" / "mnist-10k.npz"
FLOAT32_RUN = train_run._run


def main() -> None:
    n, n_eval = (int(a) for a in (sys.argv[1:3] + ["1000", "1000"][len(sys.argv[1:3]):]))
    scheme = sys.argv[3] if len(sys.argv) > 3 else "last:2"
    lr = float(sys.argv[4]) if len(sys.argv) > 4 else 0.1
    g = compile_model(MODEL, "host", patch=False).graph
    head, _ = find_head(g)
    tg = build_training_graph(g, parse_scheme(scheme, g, head), TrainingOptions(lr=lr, classes=10, seed=0))
    d = np.load(MNIST)
    x = np.pad(d["images"][:n + n_eval], ((0, 0), (2, 2), (2, 2)))[..., None].repeat(3, axis=3)
    t = tg.t(tg.inputs[0])
    q = np.clip(np.round(x / t.scale) + t.zero_point, -128, 127).astype(np.int8)
    labels = d["labels"].astype(np.int64)[:n + n_eval]
    backward = {op.name for op in tg.ops[tg.meta["training"]["forward_ops"] + 1:]}
    rounded = [0, 0]  # gradient values written, of them changed by the rounding

    def fp16_run(tg_, state, ops, feeds):
        values = dict(feeds)
        for op in ops:
            values = FLOAT32_RUN(tg_, state, [op], values)
            if op.name not in backward:
                continue
            for o in op.outputs:
                if tg_.t(o).dtype == "float32" and o not in tg_.outputs:
                    half = values[o].astype(np.float16).astype(np.float32)
                    rounded[0] += half.size
                    rounded[1] += int(np.count_nonzero(half != values[o]))
                    values[o] = half
        return values

    for arm, runner in (("float32", FLOAT32_RUN), ("fp16", fp16_run)):
        train_run._run = runner
        state = train_run.TrainState.of(tg)
        started = time.time()
        losses = [train_run.train_step(tg, state, q[k], int(labels[k]))[0] for k in range(n)]
        acc = np.mean([np.argmax(train_run.infer(tg, state, q[k])) == labels[k] for k in range(n, n + n_eval)])
        print(f"{arm}: {n} steps, mean loss of the last 200 {np.mean(losses[-200:]):.4f}, held-out accuracy "
              f"{acc:.3f} on {n_eval} digits ({time.time() - started:.0f} s)", flush=True)
    train_run._run = FLOAT32_RUN
    print(f"fp16: {rounded[1]:,} of {rounded[0]:,} gradient values changed by the rounding")


if __name__ == "__main__":
    main()
