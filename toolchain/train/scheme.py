"""What a training run updates: the scheme (docs/training.md).

A scheme names, per int8 weight layer (conv, depthwise, fully connected; by its node name in the model), whether
its bias is trained and over how many of its input channels its weights are trained (the first ones: the compiler
trains a contiguous slice, as TinyEngine does). The classifier head (the last fully connected layer) is always
trained, in float32. The built-in schemes:

    head        the head only (a linear probe on the frozen features)
    bias        the head and the biases of every weight layer
    last:N      the head, and the biases and all weights of the last N weight layers before it
    FILE.toml   a table per layer:  [layers."node name"]  bias = true   weights = 0.5  (a fraction, or
                channels = 16)
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..ir import Graph, Op

WEIGHT_LAYERS = ("conv2d", "depthwise_conv2d", "fully_connected")


@dataclass(frozen=True)
class LayerTraining:
    """What is trained in one layer: its bias, and its weights over the first `weight_channels` input channels
    (0: the weights stay frozen in flash)."""

    train_bias: bool = False
    weight_channels: int = 0

    @property
    def trained(self) -> bool:
        return self.train_bias or self.weight_channels > 0


@dataclass
class Scheme:
    name: str
    layers: dict[str, LayerTraining] = field(default_factory=dict)  # forward op name -> what it trains

    def layer(self, op: Op) -> LayerTraining:
        return self.layers.get(op.name, LayerTraining())


def in_channels(op: Op, g: Graph) -> int:
    """The input channels a layer's weight slice is counted in: per group for a conv, the channels of a
    depthwise, the depth of a fully connected layer."""
    w = g.t(op.inputs[1]).shape
    return w[-1] if op.type != "depthwise_conv2d" else g.t(op.inputs[0]).shape[-1]


def weight_layers(g: Graph, head: Op) -> list[Op]:
    """The int8 weight layers below the head, in forward order."""
    return [op for op in g.ops if op.type in WEIGHT_LAYERS and op is not head]


def parse_scheme(text: str, g: Graph, head: Op) -> Scheme:
    """The scheme of `--scheme` (head, bias, last:N or a .toml file) for graph g."""
    layers = weight_layers(g, head)
    if text == "head":
        return Scheme("head")
    if text == "bias":
        return Scheme("bias", {op.name: LayerTraining(train_bias=True) for op in layers})
    if text.startswith("last:"):
        try:
            n = int(text[5:])
        except ValueError:
            raise InputError(f"--scheme {text}: last:N needs a whole number of layers, e.g. last:2") from None
        if not 0 <= n <= len(layers):
            raise InputError(f"--scheme {text}: the model has {len(layers)} weight layers below its head")
        chosen = layers[len(layers) - n:]
        return Scheme(text, {op.name: LayerTraining(True, in_channels(op, g)) for op in chosen})
    path = Path(text)
    if path.suffix != ".toml":
        raise InputError(f"--scheme {text}: expected head, bias, last:N, auto or a .toml scheme file")
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"--scheme {text}: cannot read the scheme file ({e})") from None
    by_name = {op.name: op for op in layers}
    chosen_layers: dict[str, LayerTraining] = {}
    entries = table.get("layers", {})
    if not isinstance(entries, dict):
        raise InputError(f"--scheme {text}: [layers] must be a table of layer names")
    unknown = [n for n in entries if n not in by_name]
    if unknown:
        names = ", ".join(repr(n) for n in unknown)
        raise InputError(f"--scheme {text}: no weight layer named {names} below the head; the layers are: "
                         + ", ".join(repr(op.name) for op in layers))
    for name, spec in entries.items():
        op = by_name[name]
        if not isinstance(spec, dict) or set(spec) - {"bias", "weights", "channels"}:
            raise InputError(f"--scheme {text}: layer {name!r}: expected keys bias, weights (a fraction) or "
                             "channels")
        c = in_channels(op, g)
        if "channels" in spec:
            channels = spec["channels"]
        else:
            fraction = spec.get("weights", 0)
            if not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
                raise InputError(f"--scheme {text}: layer {name!r}: weights must be a fraction in [0, 1]")
            channels = math.ceil(fraction * c)
        if not isinstance(channels, int) or not 0 <= channels <= c:
            raise InputError(f"--scheme {text}: layer {name!r}: channels must be a whole number in [0, {c}]")
        chosen_layers[name] = LayerTraining(bool(spec.get("bias", False)), channels)
    return Scheme(path.stem, chosen_layers)
