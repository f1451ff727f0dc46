"""Train edgec's bundled example model, a tiny CNN for the 8x8 handwritten digits of scikit-learn, export it to ONNX
and convert it to int8 with edgec's own converter (the library calls `edgec build net.onnx --calib` makes).

    python examples/digits/train.py          # ~10 s on one CPU core

writes, next to this file,
    digits_cnn.onnx          the float model as PyTorch exported it (ONNX opset 17, NCHW input `image` 1x1x8x8)
    digits_calib.npz         calibration data: `image` float32 (200, 1, 8, 8), 200 training images, NCHW
    digits_test_float.npz    the 360 held-out images: `image` float32 (360, 1, 8, 8) NCHW and `labels` int32
    digits_cnn_int8.tflite   the int8 model edgec's converter made from the .onnx and the calibration set
    digits_test.npz          the held-out images quantized with that model's input scale and zero point:
                             `image` int8 (360, 1, 8, 8, 1) NHWC and `labels` int32

and prints the float (PyTorch, onnxruntime) and int8 (TFLite Micro) test accuracies.

Needs PyTorch and scikit-learn on top of edgec (they are not edgec dependencies; onnx and onnxruntime are):
    pip install torch scikit-learn

The network (PyTorch, NCHW; edgec's ONNX importer turns it into NHWC and fuses each ReLU into its producer):
    image    1x1x8x8   x = p / 16 in [0, 1] for a pixel value p in 0..16
    Conv2d             3x3, 8 filters, padding 1, ReLU           -> 1x8x8x8
    MaxPool2d          2x2, stride 2                             -> 1x8x4x4
    Conv2d (depthwise) 3x3, groups 8 (depth multiplier 2), padding 1, ReLU   -> 1x16x4x4
    Conv2d             1x1, 16 filters, ReLU                     -> 1x16x4x4
    AvgPool2d          2x2, stride 2                             -> 1x16x2x2
    Linear             64 -> 10 (on the features flattened in (h, w, c) order) -> 1x10 logits
    Softmax                                                      -> 1x10 `probs`

Conversion (edgec's library, see docs/quantization.md):
    import_model (ONNX -> IR, NCHW -> NHWC) -> simplify (fold transposes, fuse ReLUs)
    -> load_calibration (the NCHW .npz, transposed to NHWC) -> quantize_graph(method="minmax")
    -> canonicalize -> write_tflite
No quantization code lives here: the scales, zero points and int8/int32 tensors all come from edgec's quantizer.
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from edgec import reference
from edgec.calib import load_calibration
from edgec.data import load_inputs
from edgec.exporters import write_tflite
from edgec.importers import import_model
from edgec.ir import Graph
from edgec.passes import canonicalize, simplify
from edgec.quantizer import quantize_graph

HERE = Path(__file__).resolve().parent
ONNX_PATH = HERE / "digits_cnn.onnx"
CALIB_PATH = HERE / "digits_calib.npz"
TEST_FLOAT_PATH = HERE / "digits_test_float.npz"
MODEL_PATH = HERE / "digits_cnn_int8.tflite"
TEST_INT8_PATH = HERE / "digits_test.npz"
SEED = 0
EPOCHS = 80
BATCH = 32
CALIB_SAMPLES = 200
CALIB_METHOD = "minmax"  # the observed min/max of every activation over the calibration images (TFLite's choice)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


class DigitsCNN(nn.Module):
    """Stride-1 3x3 convolutions with padding 1 are TFLite's SAME padding; the grouped convolution with 2 outputs
    per group is a depthwise convolution with depth multiplier 2."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 16, 3, padding=1, groups=8)
        self.pw = nn.Conv2d(16, 16, 1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits (training uses cross-entropy on them)."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.pw(F.relu(self.dw(x))))
        x = F.avg_pool2d(x, 2)
        # Flattened in (h, w, c) order, the order TFLite's FULLY_CONNECTED reads an NHWC tensor: in the NHWC graph
        # edgec makes, this transpose cancels against the importer's NCHW -> NHWC one and disappears.
        return self.fc(x.permute(0, 2, 3, 1).flatten(1))


class WithSoftmax(nn.Module):
    """What is exported: the trained network followed by softmax (class probabilities)."""

    def __init__(self, net: DigitsCNN):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.net(x), dim=1)


def load_split():
    """Images as the network sees them: x = p / 16, float32, NCHW (N, 1, 8, 8)."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # pixel values 0..16 -> [0, 1]
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)


def to_torch(x: np.ndarray) -> torch.Tensor:
    """(N, 1, 8, 8) images as a tensor with the plain NCHW strides (64, 64, 8, 1). A numpy array of that shape can
    have stride 1 on its channel axis of size 1 (what train_test_split's indexing leaves); PyTorch then takes it
    for channels-last and convolves in another summation order, which trains (as well, but) to other weights."""
    return torch.from_numpy(np.ascontiguousarray(x).reshape(-1, 8, 8)).unsqueeze(1)


def train(x_train: np.ndarray, y_train: np.ndarray) -> DigitsCNN:
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    xs, ys = to_torch(x_train), torch.from_numpy(y_train)
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


def torch_accuracy(model: DigitsCNN, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float(np.mean(model(to_torch(x)).argmax(1).numpy() == y))


def export_onnx(model: DigitsCNN, path: Path) -> None:
    # The TorchScript exporter (dynamo=False): a plain opset-17 graph, no onnxscript needed. PyTorch >= 2.9 warns
    # that it is the legacy one; it is still the one that writes this model without extra dependencies.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(WithSoftmax(model), (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["probs"])


def onnxruntime_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    pred = [int(np.argmax(sess.run(None, {"image": xi[None]})[0])) for xi in x]
    return float(np.mean(np.array(pred) == y))


def convert(onnx_path: Path, calib_path: Path, out: Path) -> Graph:
    """edgec's converter, stage by stage: the calls `edgec build digits_cnn.onnx --calib digits_calib.npz` makes
    (toolchain/driver.py: compile_model, convert) up to the model_int8.tflite it writes. Returns the int8 graph."""
    g = simplify(import_model(onnx_path))
    samples = load_calibration(calib_path, g)  # NCHW samples -> the IR's NHWC
    q = canonicalize(quantize_graph(g, samples, method=CALIB_METHOD))
    write_tflite(q, out)  # the default description too, so the file is byte for byte edgec build's model_int8.tflite
    return q


def main() -> None:
    t0 = time.time()
    seed_everything(SEED)
    x_train, x_test, y_train, y_test = load_split()
    print(f"digits: {len(x_train)} train / {len(x_test)} test images, 8x8, pixels 0..16 fed as p / 16")

    model = train(x_train, y_train)
    acc_torch = torch_accuracy(model, x_test, y_test)
    print(f"float (PyTorch) test accuracy: {100 * acc_torch:.2f} %  "
          f"(train {100 * torch_accuracy(model, x_train, y_train):.2f} %)")

    export_onnx(model, ONNX_PATH)
    calib = x_train[np.random.default_rng(SEED).permutation(len(x_train))[:CALIB_SAMPLES]]
    np.savez_compressed(CALIB_PATH, image=calib)
    np.savez_compressed(TEST_FLOAT_PATH, image=x_test, labels=y_test.astype(np.int32))
    acc_ort = onnxruntime_accuracy(ONNX_PATH, x_test, y_test)
    print(f"float (onnxruntime, {ONNX_PATH.name}) test accuracy: {100 * acc_ort:.2f} %")

    q = convert(ONNX_PATH, CALIB_PATH, MODEL_PATH)
    t_in = q.t(q.inputs[0])
    print(f"edgec quantized it ({CALIB_METHOD}, {CALIB_SAMPLES} calibration images): input scale {t_in.scale:.9g}, "
          f"zero point {t_in.zero_point}")

    # The int8 test set: the float images quantized exactly as `edgec test` quantizes float inputs for this model
    # (q = round(x / scale) + zero point, half away from zero, saturated), in the model's NHWC layout.
    xq = load_inputs(TEST_FLOAT_PATH, q)
    np.savez_compressed(TEST_INT8_PATH, image=np.stack([s[0] for s in xq]), labels=y_test.astype(np.int32))
    for p in (ONNX_PATH, CALIB_PATH, TEST_FLOAT_PATH, MODEL_PATH, TEST_INT8_PATH):
        print(f"wrote {p.name} ({p.stat().st_size} B)")

    outs, _ = reference.run_tflm(MODEL_PATH, xq)
    acc_int8 = float(np.mean(np.array([int(np.argmax(o[0])) for o in outs]) == y_test))
    print(f"int8 (TFLite Micro, {MODEL_PATH.name}) test accuracy: {100 * acc_int8:.2f} %  "
          f"({100 * (acc_int8 - acc_ort):+.2f} points vs float)")
    print(f"done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
