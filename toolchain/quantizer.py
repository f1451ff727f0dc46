"""Post-training quantization: a float32 IR graph and calibration samples -> an int8 IR graph (TFLite's scheme).

    weights      int8, symmetric, per output channel:   s_w[c] = max|w[c]| / 127,  q = round(w / s_w[c]), zp 0
                 (conv2d [O,KH,KW,I] along axis 0, depthwise_conv2d [1,KH,KW,O] along axis 3, fully_connected [O,I]
                 along axis 0)
    int4 weights (`weight_bits=4`, or the layers named in `int4_layers`; conv2d, depthwise_conv2d and
                 fully_connected only): symmetric in [-7, 7], s_w = max|w| / 7, per output channel for the two
                 convolutions and per TENSOR for fully_connected (TFLite Micro refuses a per-channel int4 FC, and
                 the export must run there); -8 is left unused as int8 leaves -128 (a symmetric grid).
    bias         int32, s_b[c] = s_x * s_w[c], zp 0:    q = round(b / s_b[c])   (the accumulator's own scale)
    activations  int8, asymmetric, per tensor, from a calibrated range [lo, hi] widened to contain 0 (so 0 is exact,
                 which padding and ReLU need):  s = (hi - lo) / 255,  zp = round(-128 - lo / s)
    other float constants (an ADD's or MUL's constant operand): per tensor, asymmetric, from their own min/max.

The range [lo, hi] of an activation comes from its values over all calibration samples, by `method`:
    minmax       the observed minimum and maximum (TFLite's converter does this)
    percentile   the (100 - p)-th and p-th percentiles (p = `percentile`, default 99.99): ignores rare outliers
    mse          the clipping range that minimises the expected squared quantize-dequantize error over the observed
                 distribution (each end searched in turn, two rounds)
    kl           TensorRT's entropy calibration: the threshold t on |x| whose quantized distribution is closest in
                 Kullback-Leibler divergence to the observed one, applied to both signs as [max(lo, -t), min(hi, t)];
                 spikes of one repeated value are flattened first and kept inside the range (see `_kl_range`)
int16 activations (`activations="int16"`, or the layers named in `int16_layers`; TFLite's 16x8 scheme):
                 the activations of every op with an int16 kernel (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
                 ADD, MUL, SOFTMAX, LOGISTIC, TANH, AVERAGE/MAX_POOL_2D, RELU, RELU6, RESHAPE, TRANSPOSE,
                 CONCATENATION, STRIDED_SLICE, UNIDIRECTIONAL_SEQUENCE_LSTM, SUB, PAD, MEAN) become int16,
                 symmetric: s = max(|lo|, |hi|) / 32767,
                 zp 0 (softmax, logistic, tanh: 2^-15, 0); their weights stay int8 as above and their biases become
                 int64 at s_x * s_w. Where an int16 layer meets an int8 one a QUANTIZE converts between the two
                 (same calibrated range); a graph input read only by int16 layers is int16.

Graph inputs always use min-max: the input range is the data's, and clipping it only throws information away;
so does a tensor with fewer than MIN_VALUES observed values (e.g. the logits of a few calibration samples), whose
distribution is too thin for the other methods.

TFLite's kernels impose some quantization parameters (the converter writes the same, and TFLM checks them):
    softmax, logistic   output scale 1/256, zero point -128;   tanh  output scale 1/128, zero point 0
    max/avg pooling, reshape, transpose, pad, nearest resize, relu6: the output shares its input's scale and zero
    point (no rescale is done)
    concatenation: every input shares the output's quantization (the range is the union of the inputs' ranges);
                 an input whose quantization is fixed (a softmax output) is requantized by an inserted QUANTIZE.
Tensors tied this way form one group whose range is the union of its members' calibrated ranges.

Sentinels and non-finite values (docs/quantization.md). A value that is NaN, infinite or of magnitude at least
SENTINEL (1e30; float32's largest is 3.4e38) is no data but a marker: the -FLT_MAX a max pool's explicit padding
writes (so the pool never picks it), or an overflow. Calibration leaves such values out of every activation's
statistics, counts them per tensor and says so (`g.meta["quantization"]["dropped"]`, shown by `edgec build` and
in report.json); a tensor with no value left is an error naming it. A PAD whose pad value is a sentinel is not
observed at all: its output's range is its input's (it joins its input's group anyway), and the pad value
quantizes to the type's limit (-128 for -FLT_MAX), which is exact for the max pool it feeds. Graph inputs must be
finite (they are the calibration data itself: a NaN there is a data error, reported).

The graph inputs and outputs become int8 with their quantization recorded on the tensors (and in
`g.meta["quantization"]`): a user feeds q = round(x / scale) + zero_point and reads x = scale * (q - zero_point);
model.h carries the same numbers as macros.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .errors import InputError, UnsupportedError
from .fixedpoint import accumulator_extremes
from .ir import Graph, Op, Quant, Tensor
from .ops import REGISTRY
from .verifier import verify

METHODS = ("minmax", "percentile", "mse", "kl")
BINS = 2048  # histogram bins on each side of 0
QMIN, QMAX = -128, 127
MIN_RANGE = 1e-6  # an all-zero tensor still needs a positive scale
#: below this many observed values a tensor's distribution is too thin for percentile, MSE or KL (the 99.99th
#: percentile of 200 values is their maximum; an MSE or KL optimum on them follows the noise): min-max is used
MIN_VALUES = 1000
#: |x| at or above this is a sentinel (a padding marker such as -FLT_MAX) or an overflow, never an activation
#: value: calibration leaves it out (with NaN and +-inf) and reports how many it left out
SENTINEL = 1e30

INT32_MAX = 2**31 - 1

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
        return _kl_range(obs)
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


KL_BINS = 2048  # TensorRT's entropy calibration: a 2048-bin histogram of |x| over [0, max |x|]
KL_MIN_PER_BIN = 16  # fewer non-zero values than this per bin on average: the histogram is too thin (halve the bins)
#: a histogram bin holding at least this share of all values and SPIKE_RATIO times the median of the SPIKE_WINDOW
#: bins on each side is a spike: one value repeated (a bias over a constant background), not a density
SPIKE_SHARE, SPIKE_RATIO, SPIKE_WINDOW = 0.005, 8.0, 8


def _kl_range(obs: Observer) -> tuple[float, float]:
    """TensorRT's entropy calibration on |x|, its threshold t applied to both signs: [max(lo, -t), min(hi, t)].

    H = the histogram of |x| (KL_BINS bins over [0, max |x|], exact zeros left out: 0 is exactly representable
    whatever the range, as TensorRT's own zero bin is flattened). For each candidate t = the top edge of bin i:
        P = H[:i] with the mass above t (the clipped values) folded into its last bin, normalised;
        Q = H[:i] merged into L quantization levels (level l holds the bins j with floor(j L / i) = l), each level's
            mass spread evenly over its non-zero bins, zero bins kept at zero, normalised;
    t minimises KL(P || Q); ties go to the wider range. L = 128 levels on [0, t] when the tensor has both signs
    (int8 spends half its 256 steps on each side of 0), 256 when it has one sign (TensorRT's unsigned case: the
    asymmetric range [0, t] gets all 256 steps). Candidates start at i = L, one bin per level.

    KL compares shapes bin by bin, so on a thin histogram (a few values per bin) it follows the sampling noise and
    rewards narrow ranges. With fewer than KL_MIN_PER_BIN non-zero values per bin on average the bin count is
    halved until there are enough; below L bins there is no candidate and the range stays the observed one.

    Spikes: KL compares shapes bin by bin and Q smears a level's mass over all its non-zero bins, so a value
    repeated thousands of times (MNIST's black background makes every first-layer channel output its bias over
    and over) costs about mass * log(bins per level), which shrinks with t: TensorRT's score then clips the real
    signal to sharpen the spikes (the first conv of the MNIST CNN to 16 % of its range). Yet a repeated value is
    quantized to within half a step like any other, whatever t is. Such spike bins are therefore flattened to the
    median of their neighbours, TensorRT's treatment of its zero bin generalised, and t must keep every spike
    inside the range (clipping a value that often is never right)."""
    levels = 256 if obs.lo >= 0 or obs.hi <= 0 else 128
    bins = KL_BINS
    while bins >= levels and (obs.count - obs.zeros) < KL_MIN_PER_BIN * bins:
        bins //= 2
    if bins < levels:
        return obs.lo, obs.hi
    edges, hist = _abs_histogram(obs, bins)
    hist, spikes = _flatten_spikes(hist)
    first = max(levels, int(np.flatnonzero(spikes).max()) + 1 if spikes.any() else 0)
    i = _kl_best_bin(hist, levels, first) if first <= bins else bins
    t = float(edges[i])
    return max(obs.lo, -t), min(obs.hi, t)


def _abs_histogram(obs: Observer, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(edges, counts) of |x| over [0, max |x|] in `bins` bins, rebuilt from the two signed histograms by
    interpolating their cumulative counts (values spread evenly inside a source bin); exact zeros not counted."""
    edges = np.linspace(0.0, max(obs.hi, -obs.lo, 0.0), bins + 1)
    cdf = np.zeros(bins + 1)
    for hist, top in ((obs.pos, obs.pos_top), (obs.neg, obs.neg_top)):
        if top > 0:
            cdf += np.interp(edges, np.linspace(0.0, top, BINS + 1),
                             np.concatenate([[0.0], np.cumsum(hist, dtype=np.float64)]))
    return edges, np.diff(cdf)


def _flatten_spikes(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The histogram with its spike bins replaced by the median of their neighbours, and the spike mask."""
    w = SPIKE_WINDOW
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(hist, w, mode="edge"), 2 * w + 1)
    neighbours = np.median(np.delete(windows, w, axis=1), axis=1)
    spikes = (hist >= SPIKE_SHARE * hist.sum()) & (hist > SPIKE_RATIO * np.maximum(neighbours, 1.0))
    return np.where(spikes, neighbours, hist), spikes


def _kl_best_bin(hist: np.ndarray, levels: int, first: int) -> int:
    """The i in [first, len(hist)] minimising KL(P_i || Q_i) (see `_kl_range`), the largest on ties.

    All candidates at once from cumulative sums. With N = the total count, S = sum H[:i], M_l and Z_l = the
    count and the number of non-zero bins of level l, every non-zero bin j < i of level l has P_j = H_j / N and
    Q_j = M_l / (Z_l S), so
        KL = sum_j (H_j/N) log(H_j/N)  -  (1/N) sum_l M_l log(M_l / (Z_l S))
    and the last bin is then corrected for the folded outliers O = N - S: P = (H_{i-1} + O) / N there (if that
    bin is empty while O > 0, Q is 0 where P is not and the divergence is infinite)."""
    n = hist.size
    total = float(hist.sum())
    h = hist.astype(np.float64)
    nz = h > 0
    hlogh = np.where(nz, h * np.log(np.where(nz, h, 1.0)), 0.0)
    cum_h = np.concatenate([[0.0], np.cumsum(h)])
    cum_nz = np.concatenate([[0], np.cumsum(nz)])
    cum_hlogh = np.concatenate([[0.0], np.cumsum(hlogh)])
    i = np.arange(first, n + 1)[:, None]  # candidates (rows)
    bounds = (np.arange(levels + 1)[None, :] * i + levels - 1) // levels  # level l = bins [bounds_l, bounds_l+1)
    mass = np.diff(cum_h[bounds], axis=1)
    count = np.diff(cum_nz[bounds], axis=1)
    s = cum_h[i[:, 0]]
    with np.errstate(divide="ignore", invalid="ignore"):
        q_term = np.where(mass > 0, mass * np.log(mass / (count * s[:, None])), 0.0).sum(axis=1)
        kl = (cum_hlogh[i[:, 0]] - s * np.log(total) - q_term) / total
        last = h[i[:, 0] - 1]
        outliers = total - s
        level_last = (i[:, 0] - 1) * levels // i[:, 0]
        rows = np.arange(i.shape[0])
        q_last = mass[rows, level_last] / (count[rows, level_last] * s)  # Q of the last bin (if non-zero)
        p_last, p_plain = (last + outliers) / total, last / total
        fix = np.where(p_last > 0, p_last * np.log(p_last / q_last), 0.0) \
            - np.where(p_plain > 0, p_plain * np.log(p_plain / q_last), 0.0)
        kl = np.where((last == 0) & (outliers > 0) | (s <= 0), np.inf, kl + np.where(last > 0, fix, 0.0))
    best = np.flatnonzero(kl <= kl.min() + 1e-12 * max(abs(float(kl.min())), 1.0))
    return int(first + best[-1]) if np.isfinite(kl.min()) else n


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

def quantize_weights(w: np.ndarray, axis: int | None, qmax: int = 127) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-channel along `axis` (per tensor when None): (int8 weights in -qmax..qmax, float32 scales);
    qmax 127 for int8, 7 for int4. An all-zero channel gets scale 1 (any scale represents it; 1 keeps its bias
    scale s_x finite)."""
    other = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.atleast_1d(np.max(np.abs(w.astype(np.float64)), axis=other))
    scale = np.where(amax > 0, amax / float(qmax), 1.0).astype(np.float32)
    shape = [1] * w.ndim
    if axis is not None:
        shape[axis] = -1
    q = np.clip(np.round(w.astype(np.float64) / scale.astype(np.float64).reshape(shape)), -qmax, qmax)
    return q.astype(np.int8), scale


def quantize_bias(b: np.ndarray, s_x: float, s_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int32 bias at the accumulator's scale s_x * s_w[c] (saturated; it only saturates for absurd biases)."""
    s_b = (np.float64(np.float32(s_x)) * s_w.astype(np.float64)).astype(np.float32)
    q = np.round(b.astype(np.float64) / s_b.astype(np.float64))
    return np.clip(q, -(2**31 - 1), 2**31 - 1).astype(np.int32), s_b


def quantize_per_tensor(data: np.ndarray, quant: Quant, dtype: str = "int8") -> np.ndarray:
    q = np.round(data.astype(np.float64) / float(quant.scale[0])) + int(quant.zero_point[0])
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)


def qparams16(lo: float, hi: float) -> tuple[float, int]:
    """Symmetric int16 (scale, 0) covering [lo, hi] (TFLite's 16x8 activations): s = max(|lo|, |hi|) / 32767."""
    return float(np.float32(max(abs(lo), abs(hi), MIN_RANGE) / 32767.0)), 0


#: the fixed int16 output quantization of the ops TFLite fixes it for (their int8 one is the op's `quantization`)
FIXED_INT16 = {"softmax": (1.0 / 32768, 0), "logistic": (1.0 / 32768, 0), "tanh": (1.0 / 32768, 0)}


def quantize_bias64(b: np.ndarray, s_x: float, s_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int64 bias of a 16x8 layer at s_x * s_w[c] (saturated to +-2^46, the bound TFLite Micro's rescale takes)."""
    s_b = (np.float64(np.float32(s_x)) * s_w.astype(np.float64)).astype(np.float32)
    q = np.round(b.astype(np.float64) / s_b.astype(np.float64))
    return np.clip(q, -(2**46 - 1), 2**46 - 1).astype(np.int64), s_b


# ---- calibration ------------------------------------------------------------------------------------------------

def is_sentinel(value: float) -> bool:
    """NaN, +-inf, or |value| >= SENTINEL: a marker (a max pool's -FLT_MAX padding) or an overflow, not data."""
    return not np.isfinite(value) or abs(value) >= SENTINEL


def sentinel_pads(g: Graph) -> dict[str, str]:
    """{output: input} of the PADs whose pad value is a sentinel (the lowest float before a max pool): their
    output's range is their input's, never observed (its padding would be the whole range)."""
    return {str(op.outputs[0]): str(op.inputs[0]) for op in g.ops
            if op.type == "pad" and op.attrs.get("pad_value") is not None and is_sentinel(float(op.attrs["pad_value"]))}


@dataclass
class Calibration:
    """What calibration observed: an Observer per float activation, and per tensor how many values it left out
    (NaN, +-inf, |x| >= SENTINEL)."""

    observers: dict[str, Observer]
    dropped: dict[str, int]


def calibrate(g: Graph, samples: Iterable[list[np.ndarray]], total: int | None = None,
              progress: Progress | None = None) -> Calibration:
    """Run the float graph on every sample (edgec's numpy float references) and observe every float activation,
    leaving out sentinels and non-finite values (counted in `dropped`)."""
    from .reference import run_numpy

    pads = sentinel_pads(g)
    names = [n for n in g.inputs if g.t(n).dtype == "float32"]
    names += [o for op in g.ops for o in op.outputs if g.t(o).dtype == "float32" and o not in pads]
    observers = {n: Observer() for n in names}
    lstms = [op for op in g.ops if op.type == "lstm" and g.t(op.inputs[LSTM_C]).dtype == "float32"]
    cells = {id(op): str(op.inputs[LSTM_C]) for op in lstms}
    for op in lstms:  # the cell state: its int16 scale must cover every step's value, not only the last one's
        observers[cells[id(op)]] = Observer()
    # an SVDF's state holds its feature frames: after each run from the reset state, the newest is this sample's
    svdf_states = [str(op.inputs[4]) for op in g.ops if op.type == "svdf" and g.t(op.inputs[4]).dtype == "float32"]
    for n in svdf_states:
        observers[n] = Observer()
    dropped: dict[str, int] = {}
    done = 0
    # a stateful model (SVDF, TFLite's LSTM) runs its samples as one stream, its state carried from one to the
    # next, as it is used: an output's range depends on the history, which a run from the reset state lacks
    from .reference import reset_state

    state = reset_state(g)
    for sample in samples:
        before = {n: v.copy() for n, v in state.items()}
        values = run_numpy(g, sample, state)
        for op in lstms:
            observers[cells[id(op)]].update(_lstm_cells(g, op, values, before))
        for n in svdf_states:
            observers[n].update(values[n])
        for n, obs in observers.items():
            if n in g.tensors and g.t(n).state:
                continue  # observed above (h's range is the output's)
            v = np.asarray(values[n])
            with np.errstate(invalid="ignore"):
                kept = np.isfinite(v) & (np.abs(v) < SENTINEL)
            if not kept.all():
                if n in g.inputs:
                    raise InputError(f"calibration sample {done}: model input {n} holds "
                                     f"{int(v.size - np.count_nonzero(kept))} values that are NaN, infinite or of "
                                     f"magnitude >= {SENTINEL:g}; check the calibration data and its preprocessing "
                                     "(--mean/--std/--scale)")
                dropped[n] = dropped.get(n, 0) + int(v.size - np.count_nonzero(kept))
                v = v[kept]
            obs.update(v)
        done += 1
        if progress is not None:
            progress(done, total if total is not None else done)
    if done == 0:
        raise InputError("no calibration samples: a float model needs calibration data to be quantized (--calib)")
    empty = [n for n, obs in observers.items() if obs.count == 0 and dropped.get(n)]
    if empty:
        raise InputError(f"tensor {empty[0]}: every calibration value is NaN, infinite or of magnitude >= "
                         f"{SENTINEL:g} ({dropped[empty[0]]} values over {done} samples), so it has no range to "
                         "quantize; the float model overflows there (check its weights and biases, and the "
                         "calibration data)" + (f"; so do {len(empty) - 1} more tensors" if len(empty) > 1 else ""))
    return Calibration(observers, dropped)


def _lstm_cells(g: Graph, op: Op, values: dict[str, np.ndarray], before: dict[str, np.ndarray]) -> np.ndarray:
    """Every step's float cell state of one LSTM in one calibration run: the float steps again from the state
    the run started from (`before`) on the op's input, keeping each step's c."""
    inputs: list[np.ndarray | None] = [None if i is None else values[i] if i in values else g.t(i).data
                                       for i in op.inputs]
    inputs[LSTM_H] = before[str(op.inputs[LSTM_H])].copy()
    inputs[LSTM_C] = before[str(op.inputs[LSTM_C])].copy()
    cells: list[np.ndarray] = []
    REGISTRY["lstm"].reference_f32(op, g, inputs, cells=cells)  # type: ignore[call-arg]
    return np.concatenate([np.ravel(c) for c in cells]) if cells else np.zeros(0, np.float32)


def lstm_cell_power(absmax: float) -> int:
    """The cell state's int16 scale 2^p: the least power of two with 32767 * 2^p >= max |c| (as TFLite's converter
    chooses it: a power-of-two scale covering the calibrated range), p in -31..0."""
    if absmax <= 0:
        return -31
    return int(min(max(np.ceil(np.log2(absmax / 32767.0)), -31), 0))


def _quantize_lstm(g: Graph, op: Op, cell_range: tuple[float, float]) -> None:
    """TFLite's integer 8x8->16 LSTM (ops/lstm.py), or its 16x8 form when the LSTM's activations are int16 (int64
    biases, h int16): the eight weights int8 per tensor, symmetric, zero point 0; each gate's bias at s_x * s_W
    (the input weights' scale: the bias joins the input product); h sharing the output's quantization (the kernel
    writes h into the output unscaled); c int16 at 2^p, zero point 0 (lstm_cell_power of the calibrated max |c|).
    The gates themselves are fixed Q3.12 / Q0.15: nothing to calibrate."""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    assert x.quant is not None and y.quant is not None
    for k in LSTM_WEIGHTS:
        w = g.t(op.inputs[k])
        assert w.data is not None
        wq, s_w = quantize_weights(w.data, None)
        w.data, w.dtype = wq, "int8"
        w.quant = Quant(scale=s_w, zero_point=np.zeros(1, np.int64))
    wide = x.dtype == "int16"  # 16x8 (--activations int16): int64 biases, h int16
    for k in LSTM_BIASES:
        b = g.t(op.inputs[k])
        assert b.data is not None
        s_w = g.t(op.inputs[k - 8]).quant.scale  # type: ignore[union-attr]  # b_g <- W_g (inputs 1..4)
        bq, s_b = (quantize_bias64 if wide else quantize_bias)(b.data, x.scale, s_w)
        b.data, b.dtype = bq, "int64" if wide else "int32"
        b.quant = Quant(scale=s_b, zero_point=np.zeros(1, np.int64))
    h = g.t(op.inputs[LSTM_H])
    h.dtype, h.quant = y.dtype, Quant(scale=y.quant.scale.copy(), zero_point=y.quant.zero_point.copy())
    c = g.t(op.inputs[LSTM_C])
    power = lstm_cell_power(max(abs(cell_range[0]), abs(cell_range[1])))
    c.dtype, c.quant = "int16", Quant(scale=np.array([2.0 ** power], np.float32), zero_point=np.zeros(1, np.int64))


def _lower_reverse_lstms(g: Graph) -> None:
    """TFLite's LSTM runs forward only: a reverse LSTM (ONNX's reverse direction, the backward half of a
    bidirectional one) becomes the forward LSTM between two time reversals, STRIDED_SLICEs with stride -1 on the
    time axis (x reversed, the op, its output reversed back): the same maths, in a graph TFLite Micro runs. On the
    float copy, before calibration; the final h and c (Y_h, Y_c) are the same op's, after its last step."""
    for op in [o for o in g.ops if o.type == "lstm" and o.attrs.get("reverse")]:
        axis = 0 if op.attrs.get("time_major") else 1
        x, y = str(op.inputs[0]), op.outputs[0]
        label = op.attrs.get("label", op.name)
        xr, yr = f"{x}/time_reversed_for_{op.name}", f"{y}/time_reversed"
        for name, src in ((xr, x), (yr, y)):
            g.tensors[name] = Tensor(name=name, shape=tuple(g.t(src).shape), dtype="float32")
        rank = len(g.t(x).shape)
        strides = [-1 if d == axis else 1 for d in range(rank)]
        attrs = dict(begin=[0] * rank, end=[0] * rank, strides=strides, begin_mask=(1 << rank) - 1,
                     end_mask=(1 << rank) - 1, shrink_axis_mask=0)
        at = g.ops.index(op)
        g.ops.insert(at + 1, Op(type="strided_slice", name=f"{op.name}_unreverse", inputs=[yr], outputs=[y],
                                attrs=dict(attrs, label=f"time reversal of the output of {label}")))
        g.ops.insert(at, Op(type="strided_slice", name=f"{op.name}_reverse", inputs=[x], outputs=[xr],
                            attrs=dict(attrs, label=f"time reversal of the input of {label}")))
        op.inputs[0], op.outputs[0] = xr, yr
        op.attrs["reverse"] = False


def _int16_lowered(g: Graph, g_float: Graph, activations: str) -> set[str]:
    """With `activations` int16, the ops the lowerings above added (time reversals, a GRU's steps) are int16 too
    where they have an int16 kernel."""
    if activations != "int16":
        return set()
    before = {op.name for op in g_float.ops}
    return {op.name for op in g.ops if op.name not in before and int16_eligible(op)}


def _lower_grus(g: Graph) -> None:
    """TFLite Micro has no GRU: each GRU becomes the ops of its steps (ops/gru.py, lower_to_tflite_ops), on the
    float copy before calibration, so every step's tensors are calibrated and quantized like any layer's."""
    from .ops.gru import lower_to_tflite_ops

    for op in [o for o in g.ops if o.type == "gru"]:
        at = g.ops.index(op)
        g.ops[at:at + 1] = lower_to_tflite_ops(op, g)
        for name in op.inputs[1:]:  # the GRU's own weights and state, now unread (the lowering copies them)
            if name is not None and not any(name in o.inputs for o in g.ops):
                g.tensors.pop(name, None)


def _quantize_svdf(g: Graph, op: Op, state_range: tuple[float, float]) -> None:
    """TFLite Micro's int8 SVDF (ops/svdf.py): weights_feature int8 and weights_time int16, symmetric per tensor;
    the state int16, symmetric (zero point 0) over the calibrated feature values it holds; the bias int32 at
    s_state * s_weights_time. A fused RELU / RELU6 / RELU_N1_TO_1, which the int8 kernel does not apply, is kept
    by the output's calibrated range (its lowest code is the activation's floor when the float output's minimum
    is it)."""
    wf, wt, bias, state = (g.t(op.inputs[k]) for k in (1, 2, 3, 4))
    assert wf.data is not None and wt.data is not None and bias.data is not None
    q, s_wf = quantize_weights(wf.data, None)
    wf.data, wf.dtype, wf.quant = q, "int8", Quant(scale=s_wf, zero_point=np.zeros(1, np.int64))
    amax = float(np.max(np.abs(wt.data.astype(np.float64)), initial=0.0))
    s_wt = np.array([amax / 32767.0 if amax > 0 else 1.0], np.float32)
    wt.data = np.clip(np.round(wt.data.astype(np.float64) / float(s_wt[0])), -32767, 32767).astype(np.int16)
    wt.dtype, wt.quant = "int16", Quant(scale=s_wt, zero_point=np.zeros(1, np.int64))
    top = max(abs(state_range[0]), abs(state_range[1]), MIN_RANGE)
    s_state = np.array([top / 32767.0], np.float32)
    state.dtype, state.quant = "int16", Quant(scale=s_state, zero_point=np.zeros(1, np.int64))
    bq, s_b = quantize_bias(bias.data, float(s_state[0]), s_wt)
    bias.data, bias.dtype, bias.quant = bq, "int32", Quant(scale=s_b, zero_point=np.zeros(1, np.int64))


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


#: the stateful ops (state tensors, ir.Tensor.state) the quantizer leaves to the TFLite converter
STATEFUL_OPS = {"gru": "a GRU"}
#: IR inputs of an LSTM: x, the 8 weights (1..8), the 4 biases (9..12), h (13), c (14)
LSTM_WEIGHTS, LSTM_BIASES, LSTM_H, LSTM_C = range(1, 9), range(9, 13), 13, 14


def _check_float(g: Graph) -> None:
    problems = []
    for op in g.ops:
        if op.type in ("quantize", "dequantize"):
            problems.append(f"{op.attrs.get('label', op.name)}: a {op.type.upper()} inside a float model "
                            "(a partly quantized model); edgec quantizes whole float models")
        if op.type == "gru":
            from .ops.gru import lowering_refused

            why = lowering_refused(op, g)
            if why:
                problems.append(f"{op.attrs.get('label', op.name)}: {why}: build the model as float32 "
                                "(`--dtype float32`)")
        elif op.type in STATEFUL_OPS:
            problems.append(f"{op.attrs.get('label', op.name)}: edgec does not quantize {STATEFUL_OPS[op.type]} "
                            "(its state and gate quantization) yet: build the float model as float32 (`--dtype "
                            "float32`), or give edgec the int8 model from the TFLite converter")
        if op.type == "lstm" and op.attrs.get("final_c"):
            problems.append(f"{op.attrs.get('label', op.name)}: the LSTM's final cell state (ONNX's Y_c) is an "
                            "output; int8 LSTM keeps the cell in int16, which edgec does not output: drop Y_c from "
                            "the model's outputs, or build it as float32 (`--dtype float32`)")
    for name in g.inputs:
        if g.t(name).dtype != "float32":
            problems.append(f"model input {name} is {g.t(name).dtype}, the quantizer needs a float32 model")
    if problems:
        raise UnsupportedError(problems)


def quantize_graph(g_float: Graph, samples: list[list[np.ndarray]], method: str = "minmax",
                   percentile: float = 99.99, progress: bool | Progress | None = None, weight_bits: int = 8,
                   int4_layers: Iterable[str] = (), activations: str = "int8",
                   int16_layers: Iterable[str] = (), float_ops: Iterable[str] = (),
                   float_layers: Iterable[str] = ()) -> Graph:
    """The int8 IR of a float IR graph, calibrated on `samples` (one list of NHWC float32 arrays per sample, as
    `calib.load_calibration` returns). `progress`: True for a rich progress bar on stderr, or a callable
    (done, total). `weight_bits` 4 gives every conv2d, depthwise_conv2d and fully_connected int4 weights;
    `int4_layers` gives them to the layers of those names only (op names, as `edgec build --dump` shows them).
    `activations` "int16" gives every layer with an int16 kernel int16 activations (16x8), `int16_layers` the
    layers of those names only. Every LAYER_NORM is first lowered to TFLite's int8-capable chain
    (lowering.lower_layer_norms); `float_ops` (IR types) and `float_layers` (op names) stay float32, fenced by
    DEQUANTIZE / QUANTIZE (lowering.fence_float_ops). The result is verified; `passes.canonicalize` prepares it
    like any imported int8 graph."""
    if weight_bits not in (4, 8):
        raise InputError(f"weight bits must be 8 or 4, not {weight_bits}")
    int4 = _int4_ops(g_float, weight_bits, set(int4_layers))
    if activations not in ("int8", "int16"):
        raise InputError(f"activations must be int8 or int16, not {activations}")
    if method not in METHODS:
        raise InputError(f"unknown calibration method {method!r}; choose one of {', '.join(METHODS)}")
    if not 50.0 < percentile <= 100.0:
        raise InputError(f"percentile must be in (50, 100], not {percentile}")
    _check_float(g_float)
    g = _copy(g_float)
    _lower_reverse_lstms(g)
    _lower_grus(g)
    keep = _lower_and_choose_float(g, float_ops, float_layers)
    # chosen on the lowered graph, so the ops the lowerings added (LayerNorm's chain, time reversals, a GRU's steps)
    # are int16 where they have a kernel; _int16_lowered adds those of the lowerings under --activations int16
    int16 = (_int16_ops(g, activations, set(int16_layers)) | _int16_lowered(g, g_float, activations)) - keep
    if int16 & int4:
        raise InputError(f"int4 weights and int16 activations on the same layers ({', '.join(sorted(int16 & int4))}):"
                         " TFLite Micro has no 16x4 kernels")
    if progress is True:
        cal = _calibrate_with_bar(g, samples)
    else:
        cal = calibrate(g, samples, len(samples), progress if callable(progress) else None)
    # graph inputs and state tensors (an LSTM's cell, which must not saturate) keep their whole observed range
    ranges = {n: (obs.lo, obs.hi) if (n in g.inputs or method == "minmax" or g.t(n).state)
              else choose_range(obs, method, percentile) for n, obs in cal.observers.items()}
    for out, src in sentinel_pads(g).items():  # in graph order: a pad of a pad finds its input's range set
        ranges[out] = ranges[src]
    _fence(g, keep)
    wide = _insert_int16_conversions(g, int16, ranges)
    _assign_activation_quant(g, ranges, wide)
    for op in g.ops:
        if op.type == "lstm":
            _quantize_lstm(g, op, ranges[op.inputs[LSTM_C]])  # type: ignore[index]
        if op.type == "svdf":
            _quantize_svdf(g, op, ranges[op.inputs[4]])  # type: ignore[index]
    _quantize_constants(g, int4)
    check_accumulators(g)
    g.meta["quantization"] = dict(
        method=method, percentile=percentile if method == "percentile" else None, samples=len(samples),
        inputs={n: dict(scale=g.t(n).scale, zero_point=g.t(n).zero_point) for n in g.inputs},
        outputs={n: dict(scale=g.t(n).scale, zero_point=g.t(n).zero_point) for n in g.outputs},
        dropped=dict(cal.dropped), int4_layers=sorted(int4), int16_layers=sorted(int16),
        float_layers=sorted(keep))
    for op in g.ops:
        op.params = {}
        op.attrs.pop("keep_float", None)
        for key in ("tflite_index", "tflite_outputs"):  # indices into the float file; write_tflite sets new ones
            op.attrs.pop(key, None)
    problems = [f"{op.attrs.get('label', op.name)}: {rule}" for op in g.ops for rule in REGISTRY[op.type].check(op, g)]
    if problems:
        raise UnsupportedError(problems)
    return verify(g)


def _lower_and_choose_float(g: Graph, float_ops: Iterable[str], float_layers: Iterable[str]) -> set[str]:
    """LAYER_NORM lowered to TFLite's chain (it has no int8 kernel of its own), 5-D slices narrowed to 4-D; the
    names of the ops kept float."""
    from .lowering import float_op_names, lower_layer_norms, narrow_slices

    lower_layer_norms(g)
    narrow_slices(g)  # TFLite Micro slices at most 4 dimensions: the export must run there
    return float_op_names(g, float_ops, float_layers)


def _fence(g: Graph, keep: set[str]) -> None:
    """DEQUANTIZE / QUANTIZE around the ops kept float (after calibration: the QUANTIZEs keep their tensors'
    calibrated ranges)."""
    from .lowering import fence_float_ops

    fence_float_ops(g, keep)


def _calibrate_with_bar(g: Graph, samples: list[list[np.ndarray]]) -> Calibration:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("calibrating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("calibrate", total=len(samples))
        return calibrate(g, samples, len(samples), lambda done, total: bar.update(task, completed=done))


def _copy(g: Graph) -> Graph:
    tensors = {n: Tensor(name=t.name, shape=tuple(t.shape), dtype=t.dtype, quant=t.quant,
                         data=None if t.data is None else t.data.copy(), state=t.state)
               for n, t in g.tensors.items()}
    ops = [Op(type=op.type, name=op.name, inputs=list(op.inputs), outputs=list(op.outputs), attrs=dict(op.attrs),
              params={}) for op in g.ops]
    return Graph(name=g.name, tensors=tensors, ops=ops, inputs=list(g.inputs), outputs=list(g.outputs),
                 meta=dict(g.meta))


def _weight_axis(op: Op) -> int | None:
    """The per-channel axis of the op's weights (input 1), None when it has none (its operator's quantization)."""
    return REGISTRY[op.type].quantization_for(op).weight_axis


def _activation_names(g: Graph) -> list[str]:
    """Float tensors that become int8 activations: graph inputs, op outputs, and float constants that are not
    weights or biases of an op with weights (conv, depthwise, fully connected...; e.g. an ADD's constant operand)."""
    names = [n for n in g.inputs] + [o for op in g.ops if not _kept_float(op) for o in op.outputs]
    float_only = _read_only_by_float_ops(g)
    for op in g.ops:
        if _kept_float(op):
            continue
        skip = {1, 2} if _weight_axis(op) is not None else set()
        if op.type in ("lstm", "svdf"):
            skip = set(range(1, len(op.inputs)))  # weights, biases and states: _quantize_lstm, _quantize_svdf
        names += [i for k, i in enumerate(op.inputs) if i is not None and k not in skip and g.t(i).is_const]
    return [n for n in dict.fromkeys(names) if g.t(n).dtype == "float32" and n not in float_only]


def _kept_float(op: Op) -> bool:
    """The op stays float32 in the quantized model (--float-ops / --float-layers; toolchain/lowering.py)."""
    from .lowering import KEEP_FLOAT

    return bool(op.attrs.get(KEEP_FLOAT))


def _read_only_by_float_ops(g: Graph) -> set[str]:
    """Constants every reader of which stays float32: they stay float32 too."""
    readers: dict[str, list[Op]] = {}
    for op in g.ops:
        for i in op.inputs:
            if i is not None:
                readers.setdefault(i, []).append(op)
    return {n for n, ops in readers.items() if g.t(n).is_const and all(_kept_float(op) for op in ops)}


def _assign_activation_quant(g: Graph, ranges: dict[str, tuple[float, float]],
                             wide: set[str] | frozenset[str] = frozenset()) -> None:
    """Every activation's quantization: int8 asymmetric, or int16 symmetric for the tensors in `wide`."""
    names = _activation_names(g)
    for n in names:
        t = g.t(n)
        if t.is_const:
            assert t.data is not None
            ranges[n] = (float(t.data.min(initial=0.0)), float(t.data.max(initial=0.0)))
    rules = {id(op): REGISTRY[op.type].quantization_for(op) for op in g.ops if not _kept_float(op)}
    fixed = {op.outputs[0]: (FIXED_INT16[op.type] if op.outputs[0] in wide else rule.fixed)
             for op in g.ops if id(op) in rules and (rule := rules[id(op)]).fixed is not None}
    groups = _Groups()
    for n in names:
        groups.find(n)
    for op in g.ops:
        if id(op) in rules and rules[id(op)].output == "same_as_input":
            groups.union(op.inputs[0], op.outputs[0])  # type: ignore[arg-type]
        if op.type == "lstm":  # the final h (ONNX's Y_h) is h, which the output's quantization carries
            for o in op.outputs[1:]:
                groups.union(op.outputs[0], o)

    def fixed_of(name: str) -> tuple[float, int] | None:
        root = groups.find(name)
        return next((q for t, q in fixed.items() if groups.find(t) == root), None)

    # concatenation: inputs join the output's group unless their quantization is fixed (then requantized)
    requant: list[tuple[Op, int]] = []
    for op in g.ops:
        if id(op) not in rules or rules[id(op)].output != "shared_by_inputs":
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
        is_wide = any(n in wide for n in group)
        assert all(n in wide for n in group) or not is_wide, f"a tied group of int8 and int16 tensors: {group}"
        if fixed_q is not None:
            q = _quant(float(np.float32(fixed_q[0])), fixed_q[1])
        else:
            lo = min(ranges[n][0] for n in group)
            hi = max(ranges[n][1] for n in group)
            q = _quant(*(qparams16(lo, hi) if is_wide else qparams(lo, hi)))
        for n in group:
            quant_of[n] = q
    for n in names:
        t = g.t(n)
        t.quant = Quant(scale=quant_of[n].scale.copy(), zero_point=quant_of[n].zero_point.copy())
        t.dtype = "int16" if n in wide else "int8"
        if t.is_const:
            assert t.data is not None
            t.data = quantize_per_tensor(t.data, t.quant, t.dtype)
    for op, k in requant:
        _insert_requantize(g, op, k)
    _floor_output_scales(g)
    for op in g.ops:
        if op.type == "pad" and "pad_value" in op.attrs:
            y = g.t(op.outputs[0])
            value = float(op.attrs["pad_value"])
            if value == 0.0:
                op.attrs.pop("pad_value")  # a zero pad value is PAD's own (the output zero point)
            else:
                assert y.quant is not None
                op.attrs["pad_value"] = int(quantize_per_tensor(np.asarray(value), y.quant, y.dtype))


def _insert_requantize(g: Graph, op: Op, k: int) -> None:
    """Feed input k of `op` through a QUANTIZE (int8 -> int8, or int16 -> int16, rescale) to the op's output
    quantization."""
    src = g.t(op.inputs[k])
    y = g.t(op.outputs[0])
    assert y.quant is not None
    name = f"{src.name}/requantized_for_{op.name}"
    g.tensors[name] = Tensor(name=name, shape=tuple(src.shape), dtype=y.dtype,  # int8, or int16 (16x8)
                             quant=Quant(scale=y.quant.scale.copy(), zero_point=y.quant.zero_point.copy()))
    rq = Op(type="quantize", name=f"{op.name}_requantize_{k}", inputs=[src.name], outputs=[name],
            attrs=dict(label=f"requantize input {k} of {op.attrs.get('label', op.name)}"))
    g.ops.insert(g.ops.index(op), rq)
    op.inputs[k] = name


def _floor_output_scales(g: Graph) -> None:
    """Some int8 kernels need a least output scale given their inputs' (Operator.min_output_scale; ADD/SUB need
    s_y > max(s_1, s_2) / 2^19, their rescale multipliers must stay below 1). Only a nearly constant output can
    break it; its scale is then raised to the floor."""
    for op in g.ops:
        if g.t(op.outputs[0]).dtype == "float32":
            continue  # an op kept float (--float-ops)
        floor = REGISTRY[op.type].min_output_scale(op, g)
        y = g.t(op.outputs[0])
        if op.type in ("add", "sub") and y.dtype == "int16":  # 16x8: s_y > max(s_1, s_2) / 2^14 (2^15 head room)
            floor = max(g.t(i).scale for i in op.inputs if i is not None) / 2.0**14 * 1.01
        if floor is None:
            continue
        if y.quant is not None and y.scale < floor:
            y.quant.scale[:] = np.float32(floor)


def check_accumulators(g: Graph) -> None:
    """The int32 accumulator of a conv-like op starts at the bias and adds w * (x - zp_x) per tap: it cannot
    overflow when |bias[c]| + sum |w[c]| x max|x - zp_x| <= 2^31 - 1 for every output channel c (the bound the
    TFLite importer checks). A float bias far beyond its weights times the input range (a bias of 1e38, or weights
    scaled by 1e-30 so the bias scale s_x * s_w is tiny) quantizes to a saturated int32 that breaks it: the
    model cannot be represented in int8, and the C would overflow (undefined behaviour). An already quantized
    (QDQ) model's int32 biases are held to the same bound."""
    prequantized = bool(g.meta.get("quantized"))
    problems = []
    for op in g.ops:
        axis = _weight_axis(op)
        if axis is None:
            continue
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        if w.data is None or w.dtype not in ("int8", "int4") or x.quant is None or x.dtype == "int16":
            continue  # int16 (16x8) layers accumulate in int64
        b = g.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] is not None else None
        peaks, biases, span = accumulator_extremes(w.data, axis, int(x.zero_point),
                                                   b.data if b is not None else None)
        worst = int(np.argmax(peaks))
        total = int(peaks[worst])
        if total > INT32_MAX:
            b_abs = int(biases[worst])
            problems.append(f"{op.attrs.get('label', op.name)}: output channel {worst} can overflow the int32 "
                            f"accumulator: |bias| {b_abs} + sum|w| {(total - b_abs) // span} x max|x - zp| {span} = "
                            f"{total} > {INT32_MAX}")
    if problems:
        why = ("its int32 biases are too large for their weights" if prequantized else
               "a float bias is far larger than its weights times the input range once quantized (check the "
               "model's weights, biases and Gemm alpha/beta)")
        raise InputError(f"the model cannot run in int8: {why}:\n  " + "\n  ".join(problems))


def _int4_ops(g: Graph, weight_bits: int, names: set[str]) -> set[str]:
    """The names of the ops whose weights become int4: every op with an int4 kernel (weight_bits 4), or those
    named; a name that is no such op is an error that lists the candidates."""
    from .ops.int4_common import INT4_KERNELS

    eligible = [op.name for op in g.ops if op.type in INT4_KERNELS]
    unknown = sorted(names - set(eligible))
    if unknown:
        raise InputError(f"--int4-layers: {', '.join(unknown)} is not a conv2d, depthwise_conv2d or fully_connected "
                         f"layer of the model; its layers with weights: {', '.join(eligible) or 'none'}")
    return set(eligible) if weight_bits == 4 else names


def int16_eligible(op: Op) -> bool:
    """The op has an int16 (16x8) kernel (its module's `kernel_s16`), or moves int16 values as they are (RESHAPE,
    TRANSPOSE, CONCATENATION, STRIDED_SLICE); a clamp only as RELU or RELU6 (TFLite Micro has no other int16 clamp)."""
    if op.type == "relu":
        from .ops.relu import relu_builtin

        return relu_builtin(op) in ("RELU", "RELU6")
    return REGISTRY[op.type].kernel_s16 is not None or op.type in ("reshape", "transpose", "concat", "strided_slice")


def _int16_ops(g: Graph, activations: str, names: set[str]) -> set[str]:
    """The names of the ops whose activations become int16: every op with an int16 kernel (activations int16), or
    those named; a name that is no such op is an error that lists the candidates."""
    eligible = [op.name for op in g.ops if int16_eligible(op)]
    unknown = sorted(names - set(eligible))
    if unknown:
        others = sorted(names - {op.name for op in g.ops})
        why = (f"{', '.join(others)} is no layer of the model" if others else
               f"{', '.join(unknown)} has no int16 kernel in edgec")
        raise InputError(f"--int16-layers: {why}; its layers with int16 kernels: {', '.join(eligible) or 'none'}")
    return set(eligible) if activations == "int16" else names


def _own_operand(op: Op, k: int) -> bool:
    """Input k of `op` is quantized by the op's own rule, never converted between int8 and int16: a weight or bias
    (inputs 1, 2 of an op with weights), an LSTM's weights, biases and states (_quantize_lstm)."""
    return (k in (1, 2) and _weight_axis(op) is not None) or (op.type == "lstm" and k > 0)


def _insert_int16_conversions(g: Graph, int16: set[str], ranges: dict[str, tuple[float, float]]) -> set[str]:
    """Before quantization, on the float graph: the names of the tensors that become int16 (the outputs of the int16
    ops; a graph input or a constant operand read only by int16 ops), and a QUANTIZE (int8 <-> int16, with the
    source's calibrated range) inserted in front of every op that reads a tensor of the other width."""
    if not int16:
        return set()
    readers: dict[str, list[Op]] = {}
    for op in g.ops:
        for k, i in enumerate(op.inputs):
            if i is not None and not _own_operand(op, k):
                readers.setdefault(i, []).append(op)
    wide = {o for op in g.ops if op.name in int16 for o in op.outputs}
    for name, ops in readers.items():
        if (name in g.inputs or g.t(name).is_const) and all(op.name in int16 for op in ops):
            wide.add(name)
    converted: dict[str, str] = {}
    for op in list(g.ops):
        for k, i in enumerate(op.inputs):
            if i is None or _own_operand(op, k) or g.t(i).dtype != "float32":
                continue
            if (i in wide) == (op.name in int16):
                continue
            if i not in converted:
                src = g.t(i)
                name = f"{i}/{'int16' if op.name in int16 else 'int8'}"
                g.tensors[name] = Tensor(name=name, shape=tuple(src.shape), dtype="float32")
                what = "int8 -> int16" if op.name in int16 else "int16 -> int8"
                label = f"{what} for {op.attrs.get('label', op.name)}"
                g.ops.insert(g.ops.index(op), Op(type="quantize", name=f"{op.name}_convert_{k}", inputs=[i],
                                                 outputs=[name], attrs=dict(label=label)))
                data = src.data if src.data is not None else np.zeros(1, np.float32)
                ranges[name] = ranges.get(i, (float(data.min(initial=0.0)), float(data.max(initial=0.0))))
                converted[i] = name
                if op.name in int16:
                    wide.add(name)
            op.inputs[k] = converted[i]
    return wide


def _quantize_constants(g: Graph, int4: set[str] | frozenset[str] = frozenset()) -> None:
    """Weights per channel (int4 layers: per channel, per tensor for fully_connected), biases int32 at s_x * s_w.
    A bias read by two ops gets a copy per op (each op has its own input scale); a weight read by two ops is
    quantized once, by the first (its scales do not depend on the op)."""
    seen_bias: set[str] = set()
    for op in g.ops:
        if _weight_axis(op) is None or _kept_float(op):
            continue
        if len(op.inputs) > 2 and op.inputs[2] is not None:
            if op.inputs[2] in seen_bias:
                src = g.t(op.inputs[2])
                copy = f"{src.name}/{op.name}"
                g.tensors[copy] = Tensor(name=copy, shape=src.shape, dtype=src.dtype, data=src.data)
                op.inputs[2] = copy
            seen_bias.add(op.inputs[2])
    for op in g.ops:
        axis = _weight_axis(op)
        if axis is None or _kept_float(op):
            continue
        label = op.attrs.get("label", op.name)
        w = g.t(op.inputs[1])
        if w.dtype == "float32" and w.is_const and op.name in int4:
            assert w.data is not None
            w_axis = None if op.type == "fully_connected" else axis  # TFLM: int4 FC per tensor only
            wq, s_w = quantize_weights(w.data, w_axis, qmax=7)
            w.data, w.dtype = wq, "int4"
            w.quant = Quant(scale=s_w, zero_point=np.zeros(s_w.size, np.int64), axis=w_axis)
        elif w.dtype == "float32" and w.is_const:
            assert w.data is not None
            wq, s_w = quantize_weights(w.data, axis)
            w.data, w.dtype = wq, "int8"
            w.quant = Quant(scale=s_w, zero_point=np.zeros(s_w.size, np.int64), axis=axis)
        elif not (w.quant is not None and ((w.dtype == "int8" and w.quant.axis == axis) or w.dtype == "int4")):
            # not quantized just before (by another op reading the same weights)
            raise UnsupportedError([f"{label}: weights must be float32 constants to be quantized"])
        assert w.quant is not None
        if len(op.inputs) > 2 and op.inputs[2] is not None:
            b = g.t(op.inputs[2])
            if not b.is_const or b.dtype != "float32":
                raise UnsupportedError([f"{label}: bias must be a float32 constant"])
            assert b.data is not None
            x = g.t(op.inputs[0])
            bq, s_b = (quantize_bias64 if x.dtype == "int16" else quantize_bias)(b.data, x.scale, w.quant.scale)
            b.data, b.dtype = bq, "int64" if x.dtype == "int16" else "int32"
            b.quant = Quant(scale=s_b, zero_point=np.zeros(s_b.size, np.int64), axis=0 if s_b.size > 1 else None)
