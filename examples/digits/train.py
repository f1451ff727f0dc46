"""Train edgec's bundled example model: a tiny int8 CNN for the 8x8 handwritten digits of scikit-learn.

    python examples/digits/train.py          # ~20 s on one CPU core

writes, next to this file,
    digits_cnn_int8.tflite   the int8 model (TFLite flatbuffer, built with edgec.modelbuilder)
    digits_test.npz          the held-out test split, already quantized: 'image' (N, 1, 8, 8, 1) int8, 'labels'

and prints the float (PyTorch) and int8 (TFLite Micro) test accuracies.

Needs PyTorch and scikit-learn on top of edgec (they are not edgec dependencies):
    pip install torch scikit-learn

Model (NHWC, int8 activations, per-channel int8 weights):
    image    1x8x8x1   pixel p in 0..16 stored as q = 15*p - 128 (scale 1/240, zero point -128: x = p/16, exact)
    CONV_2D            3x3, 8 filters, SAME, ReLU            -> 1x8x8x8
    MAX_POOL_2D        2x2, stride 2                         -> 1x4x4x8
    DEPTHWISE_CONV_2D  3x3, depth multiplier 2, SAME, ReLU   -> 1x4x4x16
    CONV_2D            1x1, 16 filters, ReLU                 -> 1x4x4x16
    AVERAGE_POOL_2D    2x2, stride 2                         -> 1x2x2x16
    FULLY_CONNECTED    64 -> 10 (flattens its NHWC input)    -> 1x10 logits
    SOFTMAX                                                  -> 1x10 probabilities (scale 1/256, zero point -128)

Post-training quantization is done here in numpy (no TensorFlow converter):
  - weights: symmetric int8 per output channel, scale = max|w| / 127, zero point 0
    (conv OHWI with quantized dimension 0, depthwise [1, kh, kw, C] with quantized dimension 3, FC [out, in]);
  - biases: int32, scale = s_input * s_weight[c], zero point 0;
  - activations: asymmetric int8 per tensor from the min/max (widened to include 0) of the float activations over
    the whole training set; max and average pooling keep their input's scale and zero point, as TFLite requires;
  - softmax output: scale 1/256, zero point -128 (the TFLite convention).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from edgec.modelbuilder import ModelBuilder

HERE = Path(__file__).resolve().parent
MODEL_PATH = HERE / "digits_cnn_int8.tflite"
DATA_PATH = HERE / "digits_test.npz"
SEED = 0
EPOCHS = 80
BATCH = 32

# The input: pixels are integers 0..16. The float network sees x = p / 16 in [0, 1]; its int8 encoding is
# q = 15 * p - 128 = x / (1/240) - 128, exact for every pixel value (q in -128..112, no rounding).
IN_SCALE = 1.0 / 240.0
IN_ZERO_POINT = -128
PAD = {"SAME": 0, "VALID": 1}
RELU = 1


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


class DigitsCNN(nn.Module):
    """Float twin of the int8 graph (stride-1 3x3 convolutions with padding=1 are TFLite's SAME padding)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 16, 3, padding=1, groups=8)  # depthwise, depth multiplier 2
        self.pw = nn.Conv2d(16, 16, 1)
        self.fc = nn.Linear(64, 10)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every quantized activation, in NCHW, keyed by its tensor name in the .tflite."""
        a = {}
        a["conv1"] = F.relu(self.conv1(x))
        a["maxpool"] = F.max_pool2d(a["conv1"], 2)
        a["dw"] = F.relu(self.dw(a["maxpool"]))
        a["pw"] = F.relu(self.pw(a["dw"]))
        a["pool"] = F.avg_pool2d(a["pw"], 2)
        # FULLY_CONNECTED flattens NHWC, so flatten in (h, w, c) order here too.
        a["logits"] = self.fc(a["pool"].permute(0, 2, 3, 1).flatten(1))
        return a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)["logits"]


def load_split():
    digits = load_digits()
    x = digits.images.astype(np.float32)  # (1797, 8, 8), integer pixel values 0..16
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)


def train(x_train: np.ndarray, y_train: np.ndarray) -> DigitsCNN:
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    xs = torch.from_numpy(x_train / 16.0).float().unsqueeze(1)
    ys = torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xs), generator=gen)
        for i in range(0, len(xs), BATCH):
            idx = perm[i:i + BATCH]
            loss = F.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    return model


def float_accuracy(model: DigitsCNN, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        pred = model(torch.from_numpy(x / 16.0).float().unsqueeze(1)).argmax(1).numpy()
    return float(np.mean(pred == y))


# --- quantization ------------------------------------------------------------------------------------------------

def act_qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 scale and zero point covering [lo, hi] (widened to include 0, so 0 is exact)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return float(np.float32(scale)), zp


def quantize_weights(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-channel int8 along `axis`: (int8 weights, float32 scales)."""
    other = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.max(np.abs(w), axis=other)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def quantize_bias(b: np.ndarray, s_in: float, s_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s_b = (np.float64(s_in) * s_w.astype(np.float64)).astype(np.float32)
    q = np.clip(np.round(b / s_b.astype(np.float64)), -(2**31), 2**31 - 1).astype(np.int32)
    return q, s_b


def calibrate(model: DigitsCNN, x_train: np.ndarray) -> dict[str, tuple[float, int]]:
    with torch.no_grad():
        acts = model.features(torch.from_numpy(x_train / 16.0).float().unsqueeze(1))
    q = {name: act_qparams(float(t.min()), float(t.max())) for name, t in acts.items()}
    q["maxpool"] = q["conv1"]  # pooling: output quantization = input quantization
    q["pool"] = q["pw"]
    return q


def build_tflite(model: DigitsCNN, q: dict[str, tuple[float, int]]) -> bytes:
    p = {k: v.detach().numpy().astype(np.float64) for k, v in model.state_dict().items()}
    b = ModelBuilder(description="edgec example: sklearn digits 8x8 CNN, int8 (examples/digits/train.py)")

    def conv_like(name, x, s_in, w, bias, axis, out_shape):
        wq, ws = quantize_weights(w, axis)
        bq, bs = quantize_bias(bias, s_in, ws)
        zeros = np.zeros(len(ws), np.int64)
        wt = b.const(f"{name}/weights", wq, scale=ws, zero_point=zeros, axis=axis)
        bt = b.const(f"{name}/bias", bq, scale=bs, zero_point=zeros)
        y = b.activation(name, out_shape, scale=q[name][0], zero_point=q[name][1])
        return wt, bt, y

    x = b.input("image", (1, 8, 8, 1), scale=IN_SCALE, zero_point=IN_ZERO_POINT)

    # CONV_2D weights OHWI; PyTorch has OIHW.
    w, bt, c1 = conv_like("conv1", x, IN_SCALE, p["conv1.weight"].transpose(0, 2, 3, 1), p["conv1.bias"], 0,
                          (1, 8, 8, 8))
    b.op("CONV_2D", [x, w, bt], [c1], "Conv2DOptions", padding=PAD["SAME"], strideH=1, strideW=1,
         dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=RELU)

    mp = b.activation("maxpool", (1, 4, 4, 8), scale=q["maxpool"][0], zero_point=q["maxpool"][1])
    b.op("MAX_POOL_2D", [c1], [mp], "Pool2DOptions", padding=PAD["VALID"], strideH=2, strideW=2,
         filterHeight=2, filterWidth=2, fusedActivationFunction=0)

    # DEPTHWISE_CONV_2D weights [1, kh, kw, C*mult]; PyTorch's grouped conv has (C*mult, 1, kh, kw) with the same
    # channel order (output channel k reads input channel k // mult in both).
    w, bt, dw = conv_like("dw", mp, q["maxpool"][0], p["dw.weight"].transpose(1, 2, 3, 0), p["dw.bias"], 3,
                          (1, 4, 4, 16))
    b.op("DEPTHWISE_CONV_2D", [mp, w, bt], [dw], "DepthwiseConv2DOptions", padding=PAD["SAME"], strideH=1,
         strideW=1, depthMultiplier=2, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=RELU)

    w, bt, pw = conv_like("pw", dw, q["dw"][0], p["pw.weight"].transpose(0, 2, 3, 1), p["pw.bias"], 0,
                          (1, 4, 4, 16))
    b.op("CONV_2D", [dw, w, bt], [pw], "Conv2DOptions", padding=PAD["VALID"], strideH=1, strideW=1,
         dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=RELU)

    pool = b.activation("pool", (1, 2, 2, 16), scale=q["pool"][0], zero_point=q["pool"][1])
    b.op("AVERAGE_POOL_2D", [pw], [pool], "Pool2DOptions", padding=PAD["VALID"], strideH=2, strideW=2,
         filterHeight=2, filterWidth=2, fusedActivationFunction=0)

    w, bt, logits = conv_like("logits", pool, q["pool"][0], p["fc.weight"], p["fc.bias"], 0, (1, 10))
    b.op("FULLY_CONNECTED", [pool, w, bt], [logits], "FullyConnectedOptions", fusedActivationFunction=0,
         keepNumDims=False)

    probs = b.activation("probs", (1, 10), scale=1.0 / 256.0, zero_point=-128)
    b.op("SOFTMAX", [logits], [probs], "SoftmaxOptions", beta=1.0)
    b.output(probs)
    return b.build()


def quantize_input(x: np.ndarray) -> np.ndarray:
    """Pixels 0..16 -> int8 15*p - 128 (exact), shaped (N, 1, 8, 8, 1) like the model input per sample."""
    q = np.round(x / 16.0 / IN_SCALE) + IN_ZERO_POINT
    return np.clip(q, -128, 127).astype(np.int8).reshape(-1, 1, 8, 8, 1)


def tflm_accuracy(path: Path, xq: np.ndarray, y: np.ndarray) -> float:
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(str(path))
    correct = 0
    for xi, yi in zip(xq, y):
        interp.set_input(xi, 0)
        interp.invoke()
        correct += int(np.argmax(interp.get_output(0)) == yi)
    return correct / len(y)


def main() -> None:
    t0 = time.time()
    seed_everything(SEED)
    x_train, x_test, y_train, y_test = load_split()
    print(f"digits: {len(x_train)} train / {len(x_test)} test images, 8x8, pixels 0..16")

    model = train(x_train, y_train)
    acc_float = float_accuracy(model, x_test, y_test)
    print(f"float (PyTorch) test accuracy: {100 * acc_float:.2f} %  "
          f"(train {100 * float_accuracy(model, x_train, y_train):.2f} %)")

    q = calibrate(model, x_train)
    MODEL_PATH.write_bytes(build_tflite(model, q))
    xq = quantize_input(x_test)
    np.savez_compressed(DATA_PATH, image=xq, labels=y_test.astype(np.int32))
    print(f"wrote {MODEL_PATH.name} ({MODEL_PATH.stat().st_size} B) and {DATA_PATH.name} "
          f"({DATA_PATH.stat().st_size} B)")

    acc_int8 = tflm_accuracy(MODEL_PATH, xq, y_test)
    print(f"int8 (TFLite Micro) test accuracy: {100 * acc_int8:.2f} %  "
          f"({100 * (acc_int8 - acc_float):+.2f} points vs float)")
    print(f"done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
