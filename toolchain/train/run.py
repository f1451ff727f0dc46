"""The numpy reference of the training step: the training graph run op by op with each op's `reference`, the
same float32 operations in the same order as the generated C (so the two agree bit for bit, loss aside: the C's
logf may differ in its last bit), and the trained parameters kept between steps.

    state = TrainState.of(tg)                      # the initial values of every trained parameter
    loss, logits = train_step(tg, state, x, label) # one step: forward, loss, backward, updates (in state)
    logits = infer(tg, state, x)                   # the forward pass with the current parameters
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ValidationError
from ..ir import Graph, Op
from ..ops import REGISTRY
from ..ops.base import to_half
from ..ops.fully_connected_f32_backward import head_forward
from ..ops.int8_common import WeightBackward


@dataclass
class TrainState:
    """The trained parameters (name -> the live array the backward ops update) and the stochastic-rounding
    generator's state (one uint32, as `edgec_train_rng` in the C)."""

    params: dict[str, np.ndarray]
    rng: np.ndarray  # uint32 [1], advanced in place by the backward ops that round stochastically

    @classmethod
    def of(cls, tg: Graph) -> TrainState:
        meta = tg.meta["training"]
        params = {n: np.array(tg.t(n).data, copy=True) for n in meta["params"]}
        return cls(params=params, rng=np.array([seed_state(meta["seed"])], np.uint32))


def seed_state(seed: int) -> int:
    """The xorshift32 state of a seed (never 0: xorshift32 stays at 0)."""
    return (int(seed) * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF or 1


def _value(tg: Graph, state: TrainState, values: dict[str, np.ndarray], name: str | None):
    if name is None:
        return None
    if name in state.params:
        return state.params[name]
    t = tg.t(name)
    return t.data if t.is_const else values[name]


def _run(tg: Graph, state: TrainState, ops: list[Op], feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    values = dict(feeds)
    head = f"{tg.meta['training']['head']}/head"
    for op in ops:
        impl = REGISTRY[op.type]
        inputs = [_value(tg, state, values, i) for i in op.inputs]
        if op.name == head:  # the float32 head: the C's summation order (its float reference sums in float64)
            outs = [head_forward(*inputs)]  # type: ignore[arg-type]
        elif isinstance(impl, WeightBackward):  # updates the live parameters; may draw from the generator
            outs = impl.run_reference(op, tg, inputs, rng=state.rng)
        else:
            outs = impl.run_reference(op, tg, inputs)
        for name, v in zip(op.outputs, outs):
            values[name] = np.asarray(v).reshape(tg.t(name).shape)
            if tg.t(name).dtype == "float16":  # fp16 storage: the kernel's float32 result rounded once at its store
                values[name] = to_half(values[name])
    return values



def train_step(tg: Graph, state: TrainState, x: np.ndarray, label: int) -> tuple[float, np.ndarray]:
    """One training step on one sample; the parameters in `state` are updated. Returns (loss, logits)."""
    feeds = {tg.inputs[0]: np.asarray(x).reshape(tg.t(tg.inputs[0]).shape),
             tg.inputs[1]: np.array([label], np.int32)}
    values = _run(tg, state, tg.ops, feeds)
    return float(values[tg.outputs[0]][0]), values[tg.outputs[1]]


def infer(tg: Graph, state: TrainState, x: np.ndarray) -> np.ndarray:
    """The logits of one sample with the current parameters (the forward ops only)."""
    forward = tg.ops[:tg.meta["training"]["forward_ops"]]
    values = _run(tg, state, forward, {tg.inputs[0]: np.asarray(x).reshape(tg.t(tg.inputs[0]).shape)})
    return values[tg.meta["training"]["logits"]]


def run_ops(tg: Graph, state: TrainState, ops: list[Op], feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a subset of tg's ops, in order, on `feeds` (every tensor they read that none of them computes): the
    scheme search (search.py) feeds the forward tensors no trained parameter lies below from a cache and runs
    the rest, the same operations as train_step / infer. Returns every value computed (and the feeds)."""
    return _run(tg, state, ops, feeds)


def split_training_outputs(raw: bytes, tg: Graph, records: int) -> tuple[list[float], np.ndarray, dict]:
    """(loss per record, logits [records, K], trained parameters) from the harness's output bytes."""
    k = tg.t(tg.outputs[1]).size
    per = 4 + 4 * k
    body = np.frombuffer(raw[:per * records], np.float32).reshape(records, 1 + k)
    params: dict[str, np.ndarray] = {}
    offset = per * records
    for name in tg.meta["training"]["params"]:
        t = tg.t(name)
        assert t.data is not None
        n = t.sram_nbytes
        stored = np.frombuffer(raw[offset:offset + n], t.data.dtype)
        if t.mutable_channels:  # the trained slice only; the frozen rest is the graph's (never changed)
            full = np.array(t.data, copy=True)
            full[..., :t.mutable_channels] = stored.reshape(*t.shape[:-1], t.mutable_channels)
            params[name] = full
        else:
            params[name] = stored.reshape(t.shape).copy()
        offset += n
    if offset != len(raw):
        raise ValidationError(f"the training harness wrote {len(raw)} bytes, {offset} expected")
    return [float(v) for v in body[:, 0]], body[:, 1:].copy(), params
