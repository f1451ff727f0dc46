"""What the benches that train a small PyTorch model here share (bench/models.py's rows, bench/gru_digits.py): the
minibatch training loop and the ONNX export. Seeded and on one thread, so a row's model is the same on every run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fit(net, opt, x: np.ndarray, y: np.ndarray, *, batch: int, epochs: int, seed: int, name: str,
        sched=None) -> float:
    """Cross-entropy training of `net` on (x, y): per epoch one permutation of the samples from a generator seeded
    with `seed`, then for each batch of it zero_grad, forward, backward, opt.step() (and sched.step() when given).
    Logs each epoch's last loss; returns the seconds it took. The caller seeds torch before building `net`."""
    import torch

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
        log(f"  {name} epoch {epoch + 1}/{epochs}: loss {loss.item():.3f} ({time.time() - t0:.0f} s)")
    net.eval()
    return time.time() - t0


def export_onnx(net, input_shape: tuple[int, ...], path: Path, opset: int) -> Path:
    """`net` (in eval mode) to an ONNX file with one input `image` of `input_shape` and one output `logits`."""
    import torch

    torch.onnx.export(net, (torch.zeros(*input_shape),), str(path), dynamo=False, opset_version=opset,
                      input_names=["image"], output_names=["logits"])
    return path
