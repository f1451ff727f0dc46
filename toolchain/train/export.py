"""The trained model back as an int8 .tflite (`model_trained.tflite`): TFLite Micro, `edgec test` and `edgec build`
run the adapted model like any other.

The trained int8 weights and int32 biases go in as they are (they are the bits the device computed). The float32
head is quantized as edgec's post-training quantizer quantizes a fully connected layer (docs/quantization.md):
weights symmetric int8 per output channel (scale = max |w| / 127), bias int32 at s_x * s_w, and the logits get
the asymmetric int8 range of the logits the training run computed (every step's and every evaluation's, so the
range covers the data the model was adapted on). The softmax after the head, if the model had one, keeps
TFLite's fixed output quantization (1/256, -128).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from ..exporters.tflite import write_tflite
from ..ir import Graph, Quant
from .graph import find_head


def quantize_head(w: np.ndarray, b: np.ndarray, input_scale: float, logits_min: float, logits_max: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, int]:
    """(int8 weights, their per-channel scales, int32 bias, bias scales, output scale, output zero point)."""
    w64 = np.asarray(w, np.float64)
    amax = np.abs(w64).max(axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0)
    wq = np.clip(np.round(w64 / scales[:, None]), -127, 127).astype(np.int8)
    bias_scales = input_scale * scales
    bq = np.clip(np.round(np.asarray(b, np.float64) / bias_scales), -(2**31 - 1), 2**31 - 1).astype(np.int32)
    lo, hi = min(float(logits_min), 0.0), max(float(logits_max), 0.0)  # the range holds 0 exactly
    out_scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zero_point = int(np.clip(np.round(-128 - lo / out_scale), -128, 127))
    return wq, scales.astype(np.float32), bq, bias_scales.astype(np.float32), float(out_scale), zero_point


def trained_graph(inference: Graph, tg: Graph, params: dict[str, np.ndarray], logits: np.ndarray) -> Graph:
    """The inference graph with the trained parameters and the quantized head."""
    g = copy.deepcopy(inference)
    for name, value in params.items():
        if name in g.tensors:  # trained int8 weights / int32 biases of the layers below the head
            g.tensors[name].data = np.array(value, copy=True)
    head, tail = find_head(g)
    meta = tg.meta["training"]
    w = params[f"{meta['head']}/head_weights"]
    b = params[f"{meta['head']}/head_bias"]
    x = g.t(head.inputs[0])
    wq, ws, bq, bs, out_scale, zp = quantize_head(w, b, x.scale, float(logits.min()), float(logits.max()))
    classes = wq.shape[0]
    wt = g.t(head.inputs[1])
    wt.data, wt.shape = wq, wq.shape
    wt.quant = Quant(scale=ws, zero_point=np.zeros(classes, np.int64), axis=0)
    bias_name = head.inputs[2] if len(head.inputs) > 2 else None
    if bias_name:
        bt = g.t(bias_name)
        bt.data, bt.shape = bq, bq.shape
        bt.quant = Quant(scale=bs, zero_point=np.zeros(classes, np.int64), axis=0)
    y = g.t(head.outputs[0])
    y.shape = (*y.shape[:-1], classes)
    y.quant = Quant(scale=np.array([out_scale], np.float32), zero_point=np.array([zp], np.int64))
    for op in reversed(tail):  # softmax / reshape / dequantize after the head: the new class count
        for o in op.outputs:
            t = g.t(o)
            t.shape = (*t.shape[:-1], classes)
    from ..passes import canonicalize

    return canonicalize(g)  # params (multipliers) of the head and its tail recomputed for the new scales


def write_trained_tflite(inference: Graph, tg: Graph, params: dict[str, np.ndarray], logits: np.ndarray,
                         path: Path) -> Graph:
    g = trained_graph(inference, tg, params, logits)
    write_tflite(g, path, f"{g.name}: trained on the device by edgec ({tg.meta['training']['scheme']})")
    return g
