"""The MCUNet model zoo rebuilt as int8 .tflite files with random weights, for the memory benchmark.

The architectures are MCUNet's model zoo (github.com/mit-han-lab/mcunet: README.md and mcunet/model_zoo.py; the
layers as the tiny-training pickles, TinyEngine's golden code and, for mcunet-in0..in4, a torchvision-style
transcription give them). Every net is an inverted-residual chain:

    input [1,R,R,3] -> CONV_2D 3x3/2 (stem) + ReLU6
      -> per block e-c-k[s2]: CONV_2D 1x1 expand to e*c_in + ReLU6 (absent when e = 1)
                              DEPTHWISE_CONV_2D kxk stride s + ReLU6
                              CONV_2D 1x1 project to c (linear)
                              ADD of the block input when s = 1 and c_in = c (never on the first block)
      -> [CONV_2D 1x1 feature mix + ReLU6]  (mbv2-w0.35: 112->448, proxyless-w0.3: 96->384)
      -> MEAN over H and W (keep_dims false: what TF's global average pooling converts to)
      -> FULLY_CONNECTED to the classes (logits, no softmax)

Padding is SAME everywhere (TF's rule: out = ceil(in / stride), like PyTorch's k//2 padding for odd k). The MACs
of every net, counted as MCUNet counts them (conv and FC multiply-accumulates), equal the zoo table's
(`macs()`, checked by tests/host/test_zoo.py); the parameter counts are those of BN-folded int8 weights + biases.

Decisions where the table is silent (written here, reported in docs/memory.md):
- resolutions: the zoo's (in0 48, in1 96, in2 160, in3 176, in4 160, mbv2-w0.35 144, proxyless-w0.3 176,
  vww1 80); mcunet-in1 is also built at 128, the resolution tiny-training uses it at (as "mcunet-5fps");
- classes: 1000 for the ImageNet nets (mcunet-5fps at 128 included: the inference model, not the 10-class
  fine-tuning head), 2 for mcunet-vww1;
- the global pool is MEAN over axes (1, 2): TFLM runs it and edgec compiles it; it has no weights and an output of
  C bytes, so the choice does not change any arena;
- the feature-mix 1x1 conv of mbv2-w0.35 and proxyless-w0.3 is kept (the table's head column), with ReLU6.

Weights are random and seeded: int8, Gaussian-looking with the largest |w| of a channel near 127, per-output-
channel scales for conv and depthwise (per-tensor for FC, as the TFLite converter writes it), int32 biases. The
scales and biases are set as in a trained net with batch-norm folded in, from the per-channel mean and variance
of every tensor carried through the net analytically (no data): each layer's pre-activation gets a per-channel
std gamma and mean beta, ReLU6 outputs use scale 6/255 and zero point -128, linear outputs (projections, ADD,
pool, logits) are quantized over mean +- 4 std of every channel (what min/max calibration sees). The input's
influence therefore survives to the logits, and activations are neither constant nor saturated (the tests and
`python bench/zoo.py --stats` check this with TFLM).

    .venv/bin/python bench/zoo.py [NAME ...] [--out DIR]   # write the models, print MACs / params / arena sizes
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgec.modelbuilder import ModelBuilder

CACHE = Path(__file__).resolve().parent / ".zoo"
BUILDER_VERSION = 1  # bump when the builder's output changes: cached files are keyed by it
SAME = 0  # tflite Padding.SAME
RELU6 = 3  # tflite ActivationFunctionType.RELU6


@dataclass(frozen=True)
class Block:
    expand: int  # expand ratio e: the depthwise runs on e * c_in channels
    out: int  # output channels c
    kernel: int  # depthwise kernel k
    stride: int  # depthwise stride (1 or 2)


@dataclass(frozen=True)
class Arch:
    name: str
    resolution: int
    stem: int
    blocks: tuple[Block, ...]
    mix: int | None  # channels of the 1x1 feature-mix conv before the pool, or None
    classes: int
    published_macs: float | None  # MACs of the zoo table (millions), for the faithfulness check
    te_peak_bytes: int | None = None  # TinyEngine's published peak SRAM (arena + sbuf + kbuf), bytes
    te_source: str = ""
    te_patch_bytes: int | None = None  # TinyEngine's published patch-based peak, bytes


def blocks(spec: str) -> tuple[Block, ...]:
    """'1-8-3, 4-16-3s2, 3-24-5x3' (the table's e·c·k[s2] notation, 'xN' = N times) -> blocks."""
    out: list[Block] = []
    for token in spec.split(","):
        token, _, times = token.strip().partition("x")
        stride = 2 if token.endswith("s2") else 1
        e, c, k = (int(v) for v in token.removesuffix("s2").split("-"))
        out += [Block(e, c, k, stride)] * int(times or 1)
    return tuple(out)


def mobilenet_v2(settings: list[tuple[int, int, int, int]]) -> tuple[Block, ...]:
    """MobileNetV2's (t, c, n, s) rows: n blocks of expand t to c channels, the first with stride s, all k3."""
    return tuple(Block(t, c, 3, s if i == 0 else 1) for t, c, n, s in settings for i in range(n))


KB = 1024  # TinyEngine's README prints kB of 1024 B: its 92 kB for vww1 is the golden 93,992 B
README = "TinyEngine README, STM32H743 (kB rounded)"

ARCHS: dict[str, Arch] = {a.name: a for a in [
    Arch("mcunet-vww1-r80", 80, 16, blocks(
        "1-8-3, 6-16-3s2, 3-16-3, 3-16-3, 3-24-7s2, 6-24-3, 5-24-5, 6-40-7s2, 6-40-7, 6-48-3, 4-48-3, 5-96-5s2, "
        "5-96-3, 4-96-3, 3-160-7"), None, 2, 11.6,
        te_peak_bytes=93_992, te_source="TinyEngine golden codegen, layer-wise", te_patch_bytes=62_352),
    Arch("mcunet-in1-r96", 96, 16, blocks(
        "1-8-3, 4-16-3s2, 3-16-3, 3-24-7s2, 5-24-3, 5-40-3s2, 4-40-7, 4-48-5, 3-48-3, 4-48-3, 5-96-7s2, 4-96-5, "
        "4-96-5, 6-160-3"), None, 1000, 12.8, te_peak_bytes=96 * KB, te_source=README),
    Arch("mcunet-5fps-r128", 128, 16, blocks(
        "1-8-3, 4-16-3s2, 3-16-3, 3-24-7s2, 5-24-3, 5-40-3s2, 4-40-7, 4-48-5, 3-48-3, 4-48-3, 5-96-7s2, 4-96-5, "
        "4-96-5, 6-160-3"), None, 1000, None),  # mcunet-in1 at tiny-training's resolution: no published MACs
    Arch("mbv2-w0.35-r144", 144, 16, mobilenet_v2(
        [(1, 8, 1, 1), (6, 8, 2, 2), (6, 16, 3, 2), (6, 24, 4, 2), (6, 32, 3, 1), (6, 56, 3, 2), (6, 112, 1, 1)]),
        448, 1000, 23.5, te_peak_bytes=295 * KB, te_source="TinyEngine README before 2023-03 (kB rounded)"),
    Arch("proxyless-w0.3-r176", 176, 16, blocks(
        "1-8-3, 3-16-5s2, 3-16-3, 3-16-7s2, 3-16-3, 3-16-5, 3-16-5, 6-24-7s2, 3-24-5x3, 6-32-5, 3-32-5x3, "
        "6-64-7s2, 6-64-7, 3-64-7, 3-64-7, 6-96-7"), 384, 1000, 38.3, te_peak_bytes=259 * KB, te_source=README),
    Arch("mcunet-in2-r160", 160, 16, blocks(
        "1-8-3, 3-16-5s2, 6-16-7, 5-16-3, 5-16-5, 5-24-3s2, 6-24-7, 6-24-5, 4-40-7s2, 5-40-5, 5-48-3, 5-48-5, "
        "4-48-3, 6-96-5s2, 4-96-5, 3-96-5, 4-96-3, 5-160-5"), None, 1000, 67.3,
        te_peak_bytes=215 * KB, te_source=README),
    Arch("mcunet-in3-r176", 176, 16, blocks(
        "1-8-3, 3-16-7s2, 5-16-3, 5-16-7, 4-16-5, 5-24-5s2, 5-24-5, 5-24-5, 5-40-3s2, 6-40-7, 4-40-5, 5-48-5, "
        "5-48-7, 5-48-3, 6-96-3s2, 5-96-7, 4-96-3, 5-160-7"), None, 1000, 81.8,
        te_peak_bytes=260 * KB, te_source=README),
    Arch("mcunet-in4-r160", 160, 32, blocks(
        "1-16-3, 3-24-7s2, 5-24-3, 4-24-5, 5-40-7s2, 4-40-3, 4-40-7, 3-80-7s2, 3-80-3, 3-80-7, 4-96-3, 3-96-5, "
        "3-96-5, 4-192-7s2, 3-192-7, 3-192-5, 4-320-5"), None, 1000, 125.9,
        te_peak_bytes=416 * KB, te_source=README),
    # not in the benchmark's DEFAULT list; kept because the zoo table has it (49 kB on TinyEngine)
    Arch("mcunet-in0-r48", 48, 24, blocks(
        "1-16-3, 4-16-5s2, 3-16-3, 4-16-3, 5-24-7s2, 4-24-5, 5-24-5, 5-48-7s2, 4-48-5, 5-56-3, 4-56-5, 5-56-3, "
        "6-112-3s2, 4-112-5, 6-192-3"), None, 1000, 6.4, te_peak_bytes=49 * KB, te_source=README),
]}
DEFAULT = [n for n in ARCHS if n != "mcunet-in0-r48"]  # the benchmark's list: every zoo net but the 48x48 one


def _same(size: int, stride: int) -> int:
    return -(-size // stride)


def macs(arch: Arch) -> int:
    """Conv + FC multiply-accumulates of the net as built (what MCUNet's zoo table counts)."""
    h = _same(arch.resolution, 2)
    total, c = h * h * 3 * 3 * 3 * arch.stem, arch.stem
    for b in arch.blocks:
        mid = c * b.expand
        total += h * h * c * mid if b.expand != 1 else 0
        h = _same(h, b.stride)
        total += h * h * b.kernel * b.kernel * mid + h * h * mid * b.out
        c = b.out
    if arch.mix:
        total, c = total + h * h * c * arch.mix, arch.mix
    return total + c * arch.classes


# Quadrature nodes of the standard normal: moments of clip(N(mu, sd^2), 0, 6) for every channel at once.
_NODES = np.linspace(-8.0, 8.0, 641)
_WEIGHTS = np.exp(-_NODES ** 2 / 2) / np.exp(-_NODES ** 2 / 2).sum()


def relu6_moments(mu: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, the mean and variance of relu6(z) for z ~ N(mu, sd^2)."""
    y = np.clip(mu[:, None] + sd[:, None] * _NODES[None, :], 0.0, 6.0)
    mean = y @ _WEIGHTS
    return mean, np.maximum((y * y) @ _WEIGHTS - mean ** 2, 1e-12)


def tap_inside(h: int, w: int, k: int, stride: int) -> np.ndarray:
    """Per tap of a kxk SAME window (row-major), the share of output positions where it falls inside the input."""
    def along(n: int) -> np.ndarray:
        out = _same(n, stride)
        pad = max((out - 1) * stride + k - n, 0) // 2  # TF SAME: the smaller half of the padding before
        pos = np.arange(out)[:, None] * stride - pad + np.arange(k)[None, :]
        return ((pos >= 0) & (pos < n)).mean(axis=0)

    return np.outer(along(h), along(w)).reshape(-1)


class _Net:
    """Writes the layers one after the other, carrying the current tensor, its quantization and the per-channel
    mean and variance of its real values. Each conv-like layer is then set up as a trained, BN-folded layer would
    be: its per-channel weight scale makes the pre-activation's std gamma (BN's scale), its bias puts the mean at
    beta (BN's shift) by cancelling the input means, and its output quantization covers mean +- 4 std of every
    channel (what min/max calibration would see). Statistics assume independent inputs: no data is needed."""

    def __init__(self, arch: Arch, seed: int):
        self.rng = np.random.default_rng(seed)
        self.b = ModelBuilder(f"{arch.name}: MCUNet zoo architecture, random int8 weights (seed {seed}), edgec bench")
        r = arch.resolution
        # an image in [-1, 1] (uniform: mean 0, variance 1/3): scale 2/255, zero point -1 as TFLite writes it
        self.x = self.b.input("input", (1, r, r, 3), scale=2 / 255, zero_point=-1)
        self.shape: tuple[int, ...] = (1, r, r, 3)
        self.scale = 2 / 255
        self.mean, self.var = np.zeros(3), np.full(3, 1 / 3)

    def _range_quant(self, mean: np.ndarray, var: np.ndarray) -> tuple[float, int]:
        """(scale, zero point) of an int8 tensor covering mean +- 4 std of every channel, and 0."""
        sd = np.sqrt(var)
        lo, hi = min(float(np.min(mean - 4 * sd)), 0.0), max(float(np.max(mean + 4 * sd)), 0.0)
        scale = (hi - lo) / 255
        return scale, int(np.clip(round(-128 - lo / scale), -128, 127))

    def _layer(self, opcode: str, options: str, name: str, w_int: np.ndarray, axis: int, out_shape: tuple[int, ...],
               relu6: bool, window: tuple[int, int] = (1, 1), per_channel: bool = True, **opts) -> None:
        """One conv-like layer: `w_int` are the int8 weights, `axis` their output-channel axis, `window` the
        (kernel, stride) of a conv or depthwise layer."""
        cout = w_int.shape[axis]
        q = np.moveaxis(w_int.astype(np.float64), axis, 0).reshape(cout, -1)  # [out, taps * in]
        # a tap reads padding (real 0) at some output positions: weight it by the share of positions where it
        # reads the input, as batch statistics over the positions would
        inside = tap_inside(self.shape[1], self.shape[2], *window) if len(self.shape) == 4 else np.ones(1)
        if opcode == "DEPTHWISE_CONV_2D":  # channel c reads only input channel c: [out, taps]
            m_in, v_in = self.mean[:, None] * inside[None, :], self.var[:, None] * inside[None, :]
        else:  # [1, taps * in], tap-major like the weights
            m_in = (inside[:, None] * self.mean[None, :]).reshape(1, -1)
            v_in = (inside[:, None] * self.var[None, :]).reshape(1, -1)
        # BN-like targets: pre-activation std gamma and mean beta per output channel
        gain, shift, spread_beta = (1.5, 0.5, 0.5) if relu6 else (1.0, 0.0, 0.3)
        gamma = gain * self.rng.uniform(0.6, 1.4, size=(cout,))
        beta = self.rng.normal(shift, spread_beta, size=(cout,))
        spread = np.sqrt((q * q * v_in).sum(axis=1))  # std of sum q * x, per output channel
        w_scale = gamma / spread
        if not per_channel:  # one scale for the tensor (FC, as the converter writes it): the average spread
            w_scale = np.full(cout, float(np.mean(gamma)) / float(np.sqrt(np.mean(spread ** 2))))
        w_scale = w_scale.astype(np.float32)
        bias_scale = (np.float32(self.scale) * w_scale).astype(np.float32)
        bias_real = beta - w_scale.astype(np.float64) * (q * m_in).sum(axis=1)
        bias_int = np.round(bias_real / bias_scale.astype(np.float64)).astype(np.int32)
        n = w_scale.size if per_channel else 1
        w = self.b.const(name + "_w", w_int, scale=w_scale[:n], zero_point=np.zeros(n, np.int64), axis=axis)
        bias = self.b.const(name + "_b", bias_int, scale=bias_scale[:n], zero_point=np.zeros(n, np.int64))
        pre_mean, pre_sd = beta, w_scale.astype(np.float64) * spread
        if relu6:
            mean, var = relu6_moments(pre_mean, pre_sd)
            scale, zp = 6 / 255, -128  # ReLU6 outputs: [0, 6] over the 256 codes
        else:
            mean, var = pre_mean, pre_sd ** 2
            scale, zp = self._range_quant(mean, var)
        y = self.b.activation(name, out_shape, scale=scale, zero_point=zp)
        self.b.op(opcode, [self.x, w, bias], [y], options, fusedActivationFunction=RELU6 if relu6 else 0, **opts)
        self.x, self.shape, self.scale, self.mean, self.var = y, out_shape, scale, mean, var

    def _int8_weights(self, shape: tuple[int, ...]) -> np.ndarray:
        """Per-channel symmetric int8 weights look Gaussian with the largest |w| of a channel near 127."""
        return np.clip(np.round(self.rng.normal(0.0, 127 / 3, size=shape)), -127, 127).astype(np.int8)

    def conv(self, name: str, cout: int, k: int, stride: int, relu6: bool) -> None:
        _, h, w, cin = self.shape
        self._layer("CONV_2D", "Conv2DOptions", name, self._int8_weights((cout, k, k, cin)), 0,
                    (1, _same(h, stride), _same(w, stride), cout), relu6, (k, stride), padding=SAME, strideH=stride,
                    strideW=stride, dilationHFactor=1, dilationWFactor=1)

    def depthwise(self, name: str, k: int, stride: int) -> None:
        _, h, w, c = self.shape
        self._layer("DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions", name, self._int8_weights((1, k, k, c)), 3,
                    (1, _same(h, stride), _same(w, stride), c), True, (k, stride), padding=SAME, strideH=stride,
                    strideW=stride, depthMultiplier=1, dilationHFactor=1, dilationWFactor=1)

    def add(self, name: str, skip: tuple[int, np.ndarray, np.ndarray]) -> None:
        other, m, v = skip
        mean, var = self.mean + m, self.var + v
        scale, zp = self._range_quant(mean, var)
        y = self.b.activation(name, self.shape, scale=scale, zero_point=zp)
        self.b.op("ADD", [self.x, other], [y], "AddOptions", fusedActivationFunction=0)
        self.x, self.scale, self.mean, self.var = y, scale, mean, var

    def mean_pool(self, name: str) -> None:
        """Global average pool: MEAN over H and W; the average of H*W positions has 1/(H*W) of the variance."""
        axes = self.b.const(name + "_axes", np.asarray([1, 2], np.int32))
        shape = (1, self.shape[3])
        var = self.var / (self.shape[1] * self.shape[2])
        scale, zp = self._range_quant(self.mean, var)
        y = self.b.activation(name, shape, scale=scale, zero_point=zp)
        self.b.op("MEAN", [self.x, axes], [y], "ReducerOptions", keepDims=False)
        self.x, self.shape, self.scale, self.var = y, shape, scale, var

    def fc(self, name: str, classes: int) -> None:
        self._layer("FULLY_CONNECTED", "FullyConnectedOptions", name, self._int8_weights((classes, self.shape[1])),
                    0, (1, classes), False, per_channel=False)


def build(arch: Arch, seed: int = 0) -> bytes:
    """The int8 .tflite of `arch` with seeded random weights."""
    n = _Net(arch, seed)
    n.conv("stem", arch.stem, 3, 2, relu6=True)
    for i, blk in enumerate(arch.blocks, start=1):
        skip = (n.x, n.mean, n.var)
        residual = i > 1 and blk.stride == 1 and n.shape[3] == blk.out
        if blk.expand != 1:
            n.conv(f"b{i}_expand", n.shape[3] * blk.expand, 1, 1, relu6=True)
        n.depthwise(f"b{i}_dw", blk.kernel, blk.stride)
        n.conv(f"b{i}_project", blk.out, 1, 1, relu6=False)
        if residual:
            n.add(f"b{i}_add", skip)
    if arch.mix:
        n.conv("mix", arch.mix, 1, 1, relu6=True)
    n.mean_pool("pool")
    n.fc("logits", arch.classes)
    n.b.output(n.x)
    return n.b.build()


def _key(arch: Arch, seed: int) -> str:
    source = Path(__file__).read_bytes()  # any edit of the builder invalidates the cache
    return hashlib.sha256(repr((arch, seed, BUILDER_VERSION)).encode() + source).hexdigest()[:12]


def model_path(name: str, seed: int = 0, cache: Path = CACHE) -> Path:
    """The cached .tflite of zoo model `name` (built on first use under bench/.zoo/, never committed)."""
    if name not in ARCHS:
        raise KeyError(f"unknown zoo model {name!r}; known: {', '.join(ARCHS)}")
    arch = ARCHS[name]
    path = cache / f"{name}-s{seed}-{_key(arch, seed)}.tflite"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        for stale in cache.glob(f"{name}-s{seed}-*.tflite"):  # built by an older version of this file
            stale.unlink(missing_ok=True)
        tmp = path.with_suffix(f".tmp{np.random.default_rng().integers(1 << 30)}")
        tmp.write_bytes(build(arch, seed))
        tmp.replace(path)  # atomic: a parallel run never reads half a file
    return path


def activation_stats(path: Path, samples: int = 4, seed: int = 0) -> dict:
    """TFLM on random inputs, every activation kept: the worst saturation share (codes at -128 or 127, ReLU6's
    zero at -128 not counted) over the layers, and how much the logits move from input to input (their std across
    samples, in codes, averaged over the classes)."""
    from edgec import reference
    from edgec.data import random_inputs
    from edgec.importers import import_model

    g = import_model(path)
    _, tensors = reference.run_tflm(path, random_inputs(g, samples, seed), preserve=True)
    assert tensors is not None
    names = {idx: t.name.decode() for idx, t in enumerate(_schema_tensors(path))}
    worst, worst_name = 0.0, ""
    for idx in tensors[0]:
        v = np.stack([np.asarray(d[idx]).reshape(-1) for d in tensors])
        if v.dtype != np.int8 or names[idx] in ("input",) or names[idx].endswith(("_w", "_b", "_axes")):
            continue
        relu6 = names[idx].endswith(("_expand", "_dw", "stem", "mix"))
        share = float(np.mean((v == 127) | ((v == -128) & (not relu6))))
        if share > worst:
            worst, worst_name = share, names[idx]
    out_idx = next(i for i, n in names.items() if n == "logits")
    logits = np.stack([np.asarray(d[out_idx]).reshape(-1) for d in tensors]).astype(np.float64)
    return dict(worst_saturation=worst, worst_layer=worst_name, logits_std_across_inputs=float(logits.std(0).mean()),
                logits_saturation=float(np.mean((logits == 127) | (logits == -128))))


def _schema_tensors(path: Path):
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

    return tfl.ModelT.InitFromPackedBuf(path.read_bytes(), 0).subgraphs[0].tensors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", default=DEFAULT, help=f"zoo models (default: {' '.join(DEFAULT)})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=CACHE, help="folder for the .tflite files (default bench/.zoo)")
    ap.add_argument("--stats", action="store_true", help="also run TFLM and print activation statistics")
    args = ap.parse_args()
    print("| model | resolution | MACs | published MACs | file bytes | file |" +
          (" worst saturated layer | logits saturated | logits std across inputs (codes) |" if args.stats else ""))
    print("|---|---:|---:|---:|---:|---|" + ("---|---:|---:|" if args.stats else ""))
    for name in args.names:
        path = model_path(name, args.seed, args.out)
        a = ARCHS[name]
        published = f"{a.published_macs}M" if a.published_macs else "-"
        row = f"| {name} | {a.resolution} | {macs(a):,} | {published} | {path.stat().st_size:,} | {path.name} |"
        if args.stats:
            st = activation_stats(path)
            row += (f" {st['worst_layer']} {100 * st['worst_saturation']:.1f} % | "
                    f"{100 * st['logits_saturation']:.1f} % | {st['logits_std_across_inputs']:.1f} |")
        print(row)


if __name__ == "__main__":
    main()
