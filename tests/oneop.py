"""Test helper: build a one-op int8 .tflite with ModelBuilder, run it through TFLM, edgec's numpy reference
and edgec's generated C, and return all three outputs, so an op test is a few lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgec import driver, host, reference
from edgec.compare import lsb_keys
from edgec.data import random_inputs
from edgec.modelbuilder import ModelBuilder


def run_three_ways(model_bytes: bytes, tmp: Path, samples: int = 8, seed: int = 0) -> dict[str, list]:
    """{'tflm': [...], 'numpy': [...], 'c': [...]}: per sample, the list of output arrays."""
    path = tmp / "model.tflite"
    path.write_bytes(model_bytes)
    b = driver.build(path, tmp / "out")
    g = b.graph
    xs = random_inputs(g, samples, seed)
    tflm, _ = reference.run_tflm(path, xs)
    ours_np = [[reference.run_numpy(g, s)[o] for o in g.outputs] for s in xs]
    exe = host.build(b.out, b.sources, sanitize=True)
    ours_c = driver.split_outputs(host.run(exe, xs), g, len(xs))
    return dict(tflm=tflm, numpy=ours_np, c=ours_c)


def assert_bit_exact(results: dict[str, list]) -> None:
    for name in ("numpy", "c"):
        for s, (ours, theirs) in enumerate(zip(results[name], results["tflm"])):
            for a, b in zip(ours, theirs):
                # integers as they are, float32 as ULP-ordered bit patterns: a float diff is 0 only if bit-identical
                a = lsb_keys(np.asarray(a).reshape(-1))
                b = lsb_keys(np.asarray(b).reshape(-1))
                assert a.shape == b.shape, f"{name}: shape {a.shape} vs TFLM {b.shape}"
                d = np.abs(a - b)
                assert d.max(initial=0) == 0, f"{name} sample {s}: max |diff| {d.max()} LSB vs TFLM at {np.argmax(d)}"


__all__ = ["ModelBuilder", "run_three_ways", "assert_bit_exact"]
