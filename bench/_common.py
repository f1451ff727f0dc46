"""What the benches that train a small PyTorch model here share (bench/models.py's rows, bench/gru_digits.py): the
minibatch training loop and the ONNX export. Seeded and on one thread, so a row's model is the same on every run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sequence_classifier(kind: str, steps: int, features: int, hidden: int, classes: int = 10):
    """nn.GRU or nn.LSTM (`kind` "gru" / "lstm", also the module's attribute name, which the exported ONNX names
    carry) over [B, steps, features], batch_first, then a Linear over all the steps' outputs to `classes` logits
    (edgec has no ONNX Gather/Slice to pick the last step). Built from torch's current seed."""
    import torch

    rnn_type = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            setattr(self, kind, rnn_type(features, hidden, batch_first=True))
            self.fc = torch.nn.Linear(steps * hidden, classes)

        def forward(self, img):  # [B, steps, features]
            seq, _ = getattr(self, kind)(img)
            return self.fc(seq.reshape(seq.shape[0], -1))

    return Net()


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
