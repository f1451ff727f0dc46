"""Comparison metrics and the validation table (ST Edge AI's validate columns, plus max |diff| in LSB, or the
relative error for float32 models)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Metrics:
    reference: str
    max_abs_diff_lsb: int
    mismatch_fraction: float
    cosine: float
    rmse: float
    top1_agreement: float
    elements: int
    max_abs_error: float | None = None  # float32 path: largest |ours - reference|
    max_rel_error: float | None = None  # ... divided by the reference's largest magnitude

    def as_dict(self) -> dict:
        return asdict(self)


def compare(reference: str, ours: list[np.ndarray], theirs: list[np.ndarray], scale: float = 1.0,
            zero_point: int = 0) -> Metrics:
    """Compare per-sample outputs (quantized integers). Cosine and RMSE are on dequantized values.

    Float outputs (DEQUANTIZE at the end of a model): 'LSB' is a float32 ULP (see lsb_keys), so the max diff is
    0 only when every value is bit-identical; cosine and RMSE are on the float values themselves. (A model mixing
    float and integer outputs is measured the same way, its integers compared as floats: still 0 iff identical.)
    """
    is_float = any(np.asarray(x).dtype.kind == "f" for x in [*ours, *theirs])
    a = np.stack([lsb_keys(np.asarray(x).reshape(-1)) for x in ours])
    b = np.stack([lsb_keys(np.asarray(x).reshape(-1)) for x in theirs])
    diff = np.abs(a - b)
    if is_float:
        fa = np.stack([np.asarray(x).reshape(-1) for x in ours]).astype(np.float64)
        fb = np.stack([np.asarray(x).reshape(-1) for x in theirs]).astype(np.float64)
        a, b = fa, fb  # for top-1
    else:
        fa = (a - zero_point) * scale
        fb = (b - zero_point) * scale
    na, nb = np.linalg.norm(fa), np.linalg.norm(fb)
    cosine = float(np.dot(fa.reshape(-1), fb.reshape(-1)) / (na * nb)) if na > 0 and nb > 0 else float(na == nb)
    top1 = float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))
    m = Metrics(reference=reference, max_abs_diff_lsb=int(diff.max(initial=0)),
                mismatch_fraction=float(np.mean(diff > 0)), cosine=cosine,
                rmse=float(np.sqrt(np.mean((fa - fb) ** 2))), top1_agreement=top1, elements=int(a.size))
    if is_float:  # the relative error float32 results are judged on (docs/numerics.md, "Float32")
        worst, ref_max = float(np.max(np.abs(fa - fb), initial=0)), float(np.max(np.abs(fb), initial=0))
        m.max_abs_error, m.max_rel_error = worst, worst / ref_max if ref_max > 0 else worst
    return m


def lsb_keys(x) -> np.ndarray:
    """Values as int64 steps: integers unchanged; float32 mapped to their ordered bit patterns, so the difference
    of two keys is the distance in float32 ULPs, 0 only for bit-identical values (+0.0 and -0.0 are 1 apart)."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        return x.astype(np.int64)
    bits = x.astype(np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)


def table(rows: list[Metrics], title: str, float32: bool = False):
    """The validation table; for a float32 model (`float32`) the difference is the relative error (largest
    |ours - reference| over the reference's largest magnitude), not LSB."""
    from rich.table import Table

    t = Table(title=title)
    first = "max relative error" if float32 else "max |diff| (LSB)"
    for col in ["comparison", first, "elements differing", "cosine", "RMSE", "top-1 agreement"]:
        t.add_column(col, justify="right" if col != "comparison" else "left")
    for m in rows:
        diff = (f"{m.max_rel_error:.2e}" if m.max_rel_error is not None else "n/a") if float32 else \
            str(m.max_abs_diff_lsb)
        t.add_row(f"edgec vs {m.reference}", diff, f"{100 * m.mismatch_fraction:.3f} %",
                  f"{m.cosine:.6f}", f"{m.rmse:.6g}", f"{100 * m.top1_agreement:.1f} %")
    return t
