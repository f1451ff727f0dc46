"""Post-training quantization: a float32 IR graph and calibration samples -> an int8 IR graph (TFLite's scheme).

    weights      int8, symmetric, per output channel:   s_w[c] = max|w[c]| / 127,  q = round(w / s_w[c]), zp 0
                 (conv2d [O,KH,KW,I] along axis 0, depthwise_conv2d [1,KH,KW,O] along axis 3, fully_connected [O,I]
                 along axis 0)
    bias         int32, s_b[c] = s_x * s_w[c], zp 0:    q = round(b / s_b[c])   (the accumulator's own scale)
    activations  int8, asymmetric, per tensor, from a calibrated range [lo, hi] widened to contain 0 (so 0 is exact,
                 which padding and ReLU need):  s = (hi - lo) / 255,  zp = round(-128 - lo / s)
    other float constants (an ADD's or MUL's constant operand): per tensor, asymmetric, from their own min/max.

The range [lo, hi] of an activation comes from its values over all calibration samples, by `method`:
    minmax       the observed minimum and maximum (TFLite's converter does this)
    percentile   the (100 - p)-th and p-th percentiles (p = `percentile`, default 99.99): ignores rare outliers
    mse          the clipping range that minimises the expected squared quantize-dequantize error over the observed
                 distribution (each end searched in turn, two rounds)
    kl           the range [t lo, t hi] whose 255-step quantized distribution is closest in Kullback-Leibler
                 divergence to the observed one (TensorRT's entropy calibration, on both sides of 0)
Graph inputs always use min-max: the input range is the data's, and clipping it only throws information away;
so does a tensor with fewer than MIN_VALUES observed values (e.g. the logits of a few calibration samples), whose
distribution is too thin for the other methods.

TFLite's kernels impose some quantization parameters (the converter writes the same, and TFLM checks them):
    softmax, logistic   output scale 1/256, zero point -128;   tanh  output scale 1/128, zero point 0
    max/avg pooling, reshape, transpose, pad, nearest resize, relu6: the output shares its input's scale and zero point (no rescale is done)
    concatenation: every input shares the output's quantization (the range is the union of the inputs' ranges);
                 an input whose quantization is fixed (a softmax output) is requantized by an inserted QUANTIZE.
Tensors tied this way form one group whose range is the union of its members' calibrated ranges.

The graph inputs and outputs become int8 with their quantization recorded on the tensors (and in
`g.meta["quantization"]`): a user feeds q = round(x / scale) + zero_point and reads x = scale * (q - zero_point);
model.h carries the same numbers as macros.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .errors import InputError, UnsupportedError
from .ir import Graph, Op, Quant, Tensor, verify
from .ops import REGISTRY

METHODS = ("minmax", "percentile", "mse", "kl")
BINS = 2048  # histogram bins on each side of 0
QMIN, QMAX = -128, 127
MIN_RANGE = 1e-6  # an all-zero tensor still needs a positive scale
#: below this many observed values a tensor's distribution is too thin for percentile, MSE or KL (the 99.99th
#: percentile of 200 values is their maximum; an MSE or KL optimum on them follows the noise): min-max is used
MIN_VALUES = 1000

#: ops whose int8 output quantization TFLite fixes: (scale, zero point)
FIXED_OUTPUT = {"softmax": (1.0 / 256, -128), "logistic": (1.0 / 256, -128), "tanh": (1.0 / 128, 0)}
#: ops that move bytes without rescaling: the output must share the input's quantization
SAME_AS_INPUT = {"max_pool2d", "avg_pool2d", "reshape", "pad", "transpose", "resize_nearest"}
#: weight tensor (input 1) -> its per-channel axis
WEIGHT_AXIS = {"conv2d": 0, "depthwise_conv2d": 3, "fully_connected": 0, "conv_transpose": 0}

Progress = Callable[[int, int], None]  # (done, total), called after each calibration sample


# ---- observers --------------------------------------------------------------------------------------------------

class Observer:
    """Running min/max and two histograms of one tensor's values: of x >= 0 over [0, pos_top] and of -x for x < 0
    over [0, neg_top], BINS bins each. A histogram's top only ever doubles (adjacent bins merge in pairs, exactly),
    so it always covers the data with at least BINS / 2 bins and one pass over the samples is enough."""

    def __init__(self) -> None:
        self.lo, self.hi = np.inf, -np.inf
        self.count = 0
        self.zeros = 0  # exact zeros (ReLU outputs, padding) are kept apart: 0 is always exactly representable
        self.pos = np.zeros(BINS, np.int64)
        self.neg = np.zeros(BINS, np.int64)
        self.pos_top = 0.0
        self.neg_top = 0.0

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if x.size == 0:
            return
        self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))
        self.count += x.size
        self.zeros += int(np.count_nonzero(x == 0))
        pos, neg = x[x > 0], -x[x < 0]
        self.pos, self.pos_top = _add(self.pos, self.pos_top, pos)
        self.neg, self.neg_top = _add(self.neg, self.neg_top, neg)

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """(bin edges, counts) over the whole real line from -neg_top to pos_top, ascending."""
        neg_edges = -np.linspace(0.0, self.neg_top, BINS + 1)[::-1]
        pos_edges = np.linspace(0.0, self.pos_top, BINS + 1)
        edges = np.concatenate([neg_edges[:-1], pos_edges])
        counts = np.concatenate([self.neg[::-1], self.pos])
        counts[BINS] += self.zeros
        return edges, counts


def _add(hist: np.ndarray, top: float, values: np.ndarray) -> tuple[np.ndarray, float]:
    """Add non-negative values to a histogram over [0, top], doubling top (merging bin pairs) until they fit."""
    if values.size == 0:
        return hist, top
    vmax = float(values.max())
    if top == 0.0:
        top = vmax
    while vmax > top:
        hist = np.concatenate([hist.reshape(-1, 2).sum(axis=1), np.zeros(BINS // 2, np.int64)])
        top *= 2.0
    idx = np.minimum((values * (BINS / top)).astype(np.int64), BINS - 1)
    return hist + np.bincount(idx, minlength=BINS), top


# ---- range selection --------------------------------------------------------------------------------------------

def choose_range(obs: Observer, method: str, percentile: float = 99.99) -> tuple[float, float]:
    """The calibrated [lo, hi] of one tensor (before it is widened to contain 0)."""
    if obs.count == 0:
        return 0.0, 0.0
    if method == "minmax" or obs.count < MIN_VALUES:
        return obs.lo, obs.hi
    edges, counts = obs.histogram()
    if method == "percentile":
        lo = _quantile(edges, counts, (100.0 - percentile) / 100.0)
        hi = _quantile(edges, counts, percentile / 100.0)
        return max(lo, obs.lo), min(hi, obs.hi)
    centers = 0.5 * (edges[:-1] + edges[1:])
    keep = counts > 0
    centers, weights = centers[keep], counts[keep].astype(np.float64)
    lo0, hi0 = min(obs.lo, 0.0), max(obs.hi, 0.0)
    if method == "mse":
        return _mse_range(centers, weights, lo0, hi0)
    if method == "kl":
        return _kl_range(obs, lo0, hi0)
    raise InputError(f"unknown calibration method {method!r}; choose one of {', '.join(METHODS)}")


def _quantile(edges: np.ndarray, counts: np.ndarray, q: float) -> float:
    """The value below which a fraction q of the histogram's mass lies (linear inside a bin)."""
    cdf = np.concatenate([[0.0], np.cumsum(counts, dtype=np.float64)])
    cdf /= cdf[-1]
    return float(np.interp(q, cdf, edges))


FRACTIONS = np.linspace(0.01, 1.0, 100)  # candidate clipping points, as fractions of the observed end


def _fake_quant_error(centers: np.ndarray, weights: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Expected squared quantize-dequantize error for each candidate [lo[k], hi[k]] (vectorised over k)."""
    scale, zp = qparams_array(lo, hi)
    q = np.clip(np.round(centers[None, :] / scale[:, None]) + zp[:, None], QMIN, QMAX)
    err = scale[:, None] * (q - zp[:, None]) - centers[None, :]
    return (err * err) @ weights


def _mse_range(centers, weights, lo0: float, hi0: float) -> tuple[float, float]:
    lo, hi = lo0, hi0
    for _ in range(2):  # coordinate descent: the top end with the bottom fixed, then the bottom, twice
        if hi0 > 0:
            cand = hi0 * FRACTIONS
            hi = float(cand[np.argmin(_fake_quant_error(centers, weights, np.full_like(cand, lo), cand))])
        if lo0 < 0:
            cand = lo0 * FRACTIONS
            lo = float(cand[np.argmin(_fake_quant_error(centers, weights, cand, np.full_like(cand, hi)))])
    return lo, hi


def _kl_range(obs: Observer, lo0: float, hi0: float) -> tuple[float, float]:
    """For each candidate [t lo0, t hi0]: P = the observed distribution with the values outside folded onto the
    ends; Q = P merged into the 255 quantization steps and spread back evenly over the bins each step holds
    (where P is not 0). Pick the t of least KL(P || Q); ties go to the wider range.

    KL compares shapes bin by bin, so on a thin histogram it rewards ranges narrow enough that each step holds
    one bin (then Q = P). The histogram is therefore first merged to about 16 values per bin, and only ranges
    that still span at least 2 bins per quantization step are candidates: with few values KL cannot clip much.
    Exact zeros are left out: 0 is exactly representable whatever the range, and their spike (half of a ReLU
    output) would otherwise dominate the divergence and favour needlessly narrow ranges."""
    factor = 1
    while factor < BINS and (obs.count - obs.zeros) / (2 * BINS / factor) < 16:
        factor *= 2
    pos = obs.pos.reshape(-1, factor).sum(axis=1)
    neg = obs.neg.reshape(-1, factor).sum(axis=1)
    width_pos, width_neg = obs.pos_top / pos.size, obs.neg_top / neg.size
    centers = np.concatenate([-(np.arange(neg.size)[::-1] + 0.5) * width_neg, (np.arange(pos.size) + 0.5) * width_pos])
    weights = np.concatenate([neg[::-1], pos]).astype(np.float64)
    keep = weights > 0
    if not keep.any():
        return lo0, hi0
    centers, p_all = centers[keep], weights[keep] / weights.sum()
    best, best_t = np.inf, 1.0
    for t in FRACTIONS[::-1]:
        lo, hi = lo0 * t, hi0 * t
        spanned = (hi / width_pos if width_pos > 0 else 0.0) + (-lo / width_neg if width_neg > 0 else 0.0)
        if hi - lo <= 0 or spanned < 2 * 255:
            break
        x = np.clip(centers, lo, hi)
        steps = np.clip(np.floor((x - lo) / (hi - lo) * 255.0).astype(np.int64), 0, 254)
        mass = np.bincount(steps, weights=p_all, minlength=255)
        nbins = np.bincount(steps, minlength=255)
        q = mass[steps] / nbins[steps]
        kl = float(np.sum(p_all * np.log(p_all / q)))
        if kl < best - 1e-12:
            best, best_t = kl, t
    return lo0 * best_t, hi0 * best_t


def qparams_array(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised `qparams` (float64 scales)."""
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
    scale = np.maximum(hi - lo, MIN_RANGE) / (QMAX - QMIN)
    zp = np.clip(np.round(QMIN - lo / scale), QMIN, QMAX)
    return scale, zp


def qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero point) covering [lo, hi] widened to contain 0 (TFLite's nudging: the zero
    point is the rounded real zero, so 0.0 is exactly representable)."""
    scale, zp = qparams_array(np.array([lo]), np.array([hi]))
    return float(np.float32(scale[0])), int(zp[0])


def _quant(scale: float, zp: int) -> Quant:
    return Quant(scale=np.array([scale], np.float32), zero_point=np.array([zp], np.int64))


# ---- weights and biases -----------------------------------------------------------------------------------------

def quantize_weights(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-channel int8 along `axis`: (int8 weights in -127..127, float32 scales). An all-zero channel
    gets scale 1 (any scale represents it; 1 keeps its bias scale s_x finite)."""
    other = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.max(np.abs(w.astype(np.float64)), axis=other)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w.astype(np.float64) / scale.astype(np.float64).reshape(shape)), -127, 127)
    return q.astype(np.int8), scale


def quantize_bias(b: np.ndarray, s_x: float, s_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int32 bias at the accumulator's scale s_x * s_w[c] (saturated; it only saturates for absurd biases)."""
    s_b = (np.float64(np.float32(s_x)) * s_w.astype(np.float64)).astype(np.float32)
    q = np.round(b.astype(np.float64) / s_b.astype(np.float64))
    return np.clip(q, -(2**31 - 1), 2**31 - 1).astype(np.int32), s_b


def quantize_per_tensor(data: np.ndarray, quant: Quant) -> np.ndarray:
    q = np.round(data.astype(np.float64) / float(quant.scale[0])) + int(quant.zero_point[0])
    return np.clip(q, QMIN, QMAX).astype(np.int8)


# ---- calibration ------------------------------------------------------------------------------------------------

def calibrate(g: Graph, samples: Iterable[list[np.ndarray]], total: int | None = None,
              progress: Progress | None = None) -> dict[str, Observer]:
    """Run the float graph on every sample (edgec's numpy float references) and observe every float activation."""
    from .reference import run_numpy

    names = [n for n in g.inputs if g.t(n).dtype == "float32"]
    names += [o for op in g.ops for o in op.outputs if g.t(o).dtype == "float32"]
    observers = {n: Observer() for n in names}
    done = 0
    for sample in samples:
        values = run_numpy(g, sample)
        for n, obs in observers.items():
            v = values[n]
            if not np.all(np.isfinite(v)):
                raise InputError(f"calibration sample {done}: tensor {n} is not finite (NaN or Inf) in the float "
                                 "model; check the calibration data and its preprocessing (--mean/--std/--scale)")
            obs.update(v)
        done += 1
        if progress is not None:
            progress(done, total if total is not None else done)
    if done == 0:
        raise InputError("no calibration samples: a float model needs calibration data to be quantized (--calib)")
    return observers


# ---- the graph rewrite ------------------------------------------------------------------------------------------

class _Groups:
    """Union-find over tensor names: tensors that must share one quantization."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


@dataclass
class QuantizeReport:
    method: str
    samples: int
    ranges: dict[str, tuple[float, float]]  # calibrated [lo, hi] per activation (before grouping)


def _is_relu6(op: Op) -> bool:
    return op.type == "relu" and op.attrs.get("lo") == 0.0 and op.attrs.get("hi") == 6.0


def _check_float(g: Graph) -> None:
    problems = []
    for op in g.ops:
        if op.type in ("quantize", "dequantize"):
            problems.append(f"{op.attrs.get('label', op.name)}: a {op.type.upper()} inside a float model "
                            "(a partly quantized model); edgec quantizes whole float models")
    for name in g.inputs:
        if g.t(name).dtype != "float32":
            problems.append(f"model input {name} is {g.t(name).dtype}, the quantizer needs a float32 model")
    if problems:
        raise UnsupportedError(problems)


def quantize_graph(g_float: Graph, samples: list[list[np.ndarray]], method: str = "minmax",
                   percentile: float = 99.99, progress: bool | Progress | None = None) -> Graph:
    """The int8 IR of a float IR graph, calibrated on `samples` (one list of NHWC float32 arrays per sample, as
    `calib.load_calibration` returns). `progress`: True for a rich progress bar on stderr, or a callable
    (done, total). The result is verified; `passes.canonicalize` prepares it like any imported int8 graph."""
    if method not in METHODS:
        raise InputError(f"unknown calibration method {method!r}; choose one of {', '.join(METHODS)}")
    if not 50.0 < percentile <= 100.0:
        raise InputError(f"percentile must be in (50, 100], not {percentile}")
    _check_float(g_float)
    g = _copy(g_float)
    if progress is True:
        observers = _calibrate_with_bar(g, samples)
    else:
        observers = calibrate(g, samples, len(samples), progress if callable(progress) else None)
    ranges = {n: (obs.lo, obs.hi) if (n in g.inputs or method == "minmax") else choose_range(obs, method, percentile)
              for n, obs in observers.items()}
    _assign_activation_quant(g, ranges)
    _quantize_constants(g)
    g.meta["quantization"] = dict(
        method=method, percentile=percentile if method == "percentile" else None, samples=len(samples),
        inputs={n: dict(scale=g.t(n).scale, zero_point=g.t(n).zero_point) for n in g.inputs},
        outputs={n: dict(scale=g.t(n).scale, zero_point=g.t(n).zero_point) for n in g.outputs})
    for op in g.ops:
        op.params = {}
        for key in ("tflite_index", "tflite_outputs"):  # indices into the float file; write_tflite sets new ones
            op.attrs.pop(key, None)
    problems = [f"{op.attrs.get('label', op.name)}: {rule}" for op in g.ops for rule in REGISTRY[op.type].check(op, g)]
    if problems:
        raise UnsupportedError(problems)
    return verify(g)


def _calibrate_with_bar(g: Graph, samples: list[list[np.ndarray]]) -> dict[str, Observer]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("calibrating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("calibrate", total=len(samples))
        return calibrate(g, samples, len(samples), lambda done, total: bar.update(task, completed=done))


def _copy(g: Graph) -> Graph:
    tensors = {n: Tensor(name=t.name, shape=tuple(t.shape), dtype=t.dtype, quant=t.quant,
                         data=None if t.data is None else t.data.copy()) for n, t in g.tensors.items()}
    ops = [Op(type=op.type, name=op.name, inputs=list(op.inputs), outputs=list(op.outputs), attrs=dict(op.attrs),
              params={}) for op in g.ops]
    return Graph(name=g.name, tensors=tensors, ops=ops, inputs=list(g.inputs), outputs=list(g.outputs),
                 meta=dict(g.meta))


def _activation_names(g: Graph) -> list[str]:
    """Float tensors that become int8 activations: graph inputs, op outputs, and float constants that are not
    weights or biases of a conv/depthwise/fully connected (e.g. an ADD's constant operand)."""
    names = [n for n in g.inputs] + [o for op in g.ops for o in op.outputs]
    for op in g.ops:
        skip = {1, 2} if op.type in WEIGHT_AXIS else set()
        names += [i for k, i in enumerate(op.inputs) if i is not None and k not in skip and g.t(i).is_const]
    return [n for n in dict.fromkeys(names) if g.t(n).dtype == "float32"]


def _assign_activation_quant(g: Graph, ranges: dict[str, tuple[float, float]]) -> None:
    names = _activation_names(g)
    for n in names:
        t = g.t(n)
        if t.is_const:
            assert t.data is not None
            ranges[n] = (float(t.data.min(initial=0.0)), float(t.data.max(initial=0.0)))
    fixed = {op.outputs[0]: FIXED_OUTPUT[op.type] for op in g.ops if op.type in FIXED_OUTPUT}
    groups = _Groups()
    for n in names:
        groups.find(n)
    for op in g.ops:
        if op.type in SAME_AS_INPUT or _is_relu6(op):
            groups.union(op.inputs[0], op.outputs[0])  # type: ignore[arg-type]

    def fixed_of(name: str) -> tuple[float, int] | None:
        root = groups.find(name)
        return next((q for t, q in fixed.items() if groups.find(t) == root), None)

    # concatenation: inputs join the output's group unless their quantization is fixed (then requantized)
    requant: list[tuple[Op, int]] = []
    for op in g.ops:
        if op.type != "concat":
            continue
        for k, i in enumerate(op.inputs):
            assert i is not None
            if fixed_of(i) is not None:
                requant.append((op, k))
            else:
                groups.union(op.outputs[0], i)
    members: dict[str, list[str]] = {}
    for n in names:
        members.setdefault(groups.find(n), []).append(n)
    quant_of: dict[str, Quant] = {}
    for root, group in members.items():
        fixed_q = fixed_of(root)
        if fixed_q is not None:
            q = _quant(float(np.float32(fixed_q[0])), fixed_q[1])
        else:
            lo = min(ranges[n][0] for n in group)
            hi = max(ranges[n][1] for n in group)
            q = _quant(*qparams(lo, hi))
        for n in group:
            quant_of[n] = q
    for n in names:
        t = g.t(n)
        t.quant = Quant(scale=quant_of[n].scale.copy(), zero_point=quant_of[n].zero_point.copy())
        t.dtype = "int8"
        if t.is_const:
            assert t.data is not None
            t.data = quantize_per_tensor(t.data, t.quant)
    for op, k in requant:
        _insert_requantize(g, op, k)
    _floor_add_output_scales(g)
    for op in g.ops:
        if op.type == "pad" and "pad_value" in op.attrs:
            y = g.t(op.outputs[0])
            value = float(op.attrs["pad_value"])
            if value == 0.0:
                op.attrs.pop("pad_value")  # a zero pad value is PAD's own (the output zero point)
            else:
                op.attrs["pad_value"] = int(np.clip(np.round(value / y.scale) + y.zero_point, QMIN, QMAX))


def _insert_requantize(g: Graph, op: Op, k: int) -> None:
    """Feed input k of `op` through a QUANTIZE (int8 -> int8 rescale) to the op's output quantization."""
    src = g.t(op.inputs[k])
    y = g.t(op.outputs[0])
    assert y.quant is not None
    name = f"{src.name}/requantized_for_{op.name}"
    g.tensors[name] = Tensor(name=name, shape=tuple(src.shape), dtype="int8",
                             quant=Quant(scale=y.quant.scale.copy(), zero_point=y.quant.zero_point.copy()))
    rq = Op(type="quantize", name=f"{op.name}_requantize_{k}", inputs=[src.name], outputs=[name],
            attrs=dict(label=f"requantize input {k} of {op.attrs.get('label', op.name)}"))
    g.ops.insert(g.ops.index(op), rq)
    op.inputs[k] = name


def _floor_add_output_scales(g: Graph) -> None:
    """ADD/SUB need s_y > max(s_1, s_2) / 2^19 (their rescale multipliers must stay below 1). Only a nearly
    constant output can break it; its scale is then raised to the floor."""
    for op in g.ops:
        if op.type not in ("add", "sub"):
            continue
        y = g.t(op.outputs[0])
        floor = max(g.t(i).scale for i in op.inputs if i is not None) / 2.0**19 * 1.01
        if y.quant is not None and y.scale < floor:
            y.quant.scale[:] = np.float32(floor)


def _quantize_constants(g: Graph) -> None:
    """Weights per channel, biases int32 at s_x * s_w. A bias read by two ops gets a copy per op (each op has its
    own input scale); a weight read by two ops is quantized once (its scales do not depend on the op)."""
    seen_bias: set[str] = set()
    for op in g.ops:
        if op.type not in WEIGHT_AXIS:
            continue
        if len(op.inputs) > 2 and op.inputs[2] is not None:
            if op.inputs[2] in seen_bias:
                src = g.t(op.inputs[2])
                copy = f"{src.name}/{op.name}"
                g.tensors[copy] = Tensor(name=copy, shape=src.shape, dtype=src.dtype, data=src.data)
                op.inputs[2] = copy
            seen_bias.add(op.inputs[2])
    for op in g.ops:
        if op.type not in WEIGHT_AXIS:
            continue
        label = op.attrs.get("label", op.name)
        w = g.t(op.inputs[1])
        axis = WEIGHT_AXIS[op.type]
        if w.dtype == "float32" and w.is_const:
            assert w.data is not None
            wq, s_w = quantize_weights(w.data, axis)
            w.data, w.dtype = wq, "int8"
            w.quant = Quant(scale=s_w, zero_point=np.zeros(s_w.size, np.int64), axis=axis)
        elif not (w.dtype == "int8" and w.quant is not None and w.quant.axis == axis):  # not quantized just before
            raise UnsupportedError([f"{label}: weights must be float32 constants to be quantized"])
        assert w.quant is not None
        if len(op.inputs) > 2 and op.inputs[2] is not None:
            b = g.t(op.inputs[2])
            if not b.is_const or b.dtype != "float32":
                raise UnsupportedError([f"{label}: bias must be a float32 constant"])
            assert b.data is not None
            bq, s_b = quantize_bias(b.data, g.t(op.inputs[0]).scale, w.quant.scale)
            b.data, b.dtype = bq, "int32"
            b.quant = Quant(scale=s_b, zero_point=np.zeros(s_b.size, np.int64), axis=0 if s_b.size > 1 else None)
