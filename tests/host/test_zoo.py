"""The MCUNet zoo of bench/zoo.py: the built .tflite files follow the architecture table (their MACs are the
zoo's), TFLite Micro runs every one of them with outputs that carry information, and edgec's generated C for the
smallest one (mcunet-vww1 at 80x80) equals TFLM to the bit, at the output and at every layer, under ASan+UBSan."""

import sys
from pathlib import Path

import numpy as np
import pytest

from edgec import driver, host, reference, validate
from edgec.data import random_inputs
from edgec.importers import import_model
from edgec.ops import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import zoo  # noqa: E402

WEIGHTED = {"conv2d", "depthwise_conv2d", "fully_connected"}  # what MCUNet's MAC counts include


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("zoo")


def test_block_notation():
    assert zoo.blocks("1-8-3, 4-16-3s2, 3-24-5x2") == (
        zoo.Block(1, 8, 3, 1), zoo.Block(4, 16, 3, 2), zoo.Block(3, 24, 5, 1), zoo.Block(3, 24, 5, 1))


@pytest.mark.parametrize("name", [n for n, a in zoo.ARCHS.items() if a.published_macs])
def test_macs_equal_the_zoo_table(name):
    """The table's MACs (millions, one decimal) are matched by the architecture as transcribed."""
    a = zoo.ARCHS[name]
    assert abs(zoo.macs(a) / 1e6 - a.published_macs) <= 0.05, f"{name}: {zoo.macs(a):,} vs {a.published_macs}M"


@pytest.mark.parametrize("name", list(zoo.ARCHS))
def test_built_model_is_the_architecture(zoo_dir, name):
    """The written file, read back by edgec's importer, has the architecture's ops, resolution and MACs."""
    a = zoo.ARCHS[name]
    g = import_model(zoo.model_path(name, cache=zoo_dir))
    assert g.t(g.inputs[0]).shape == (1, a.resolution, a.resolution, 3)
    assert g.t(g.outputs[0]).shape == (1, a.classes)
    assert sum(int(REGISTRY[op.type].macs(op, g)) for op in g.ops if op.type in WEIGHTED) == zoo.macs(a)
    kinds = [op.attrs.get("tflite_op", op.type) for op in g.ops]
    residual = sum(1 for i, b in enumerate(a.blocks) if i > 0 and b.stride == 1 and
                   (a.blocks[i - 1].out == b.out))
    assert kinds.count("ADD") == residual
    assert kinds.count("DEPTHWISE_CONV_2D") == len(a.blocks)
    assert kinds.count("MEAN") == 1 and kinds[-1] == "FULLY_CONNECTED"


def test_models_are_cached_and_seeded(zoo_dir):
    p = zoo.model_path("mcunet-vww1-r80", cache=zoo_dir)
    assert zoo.model_path("mcunet-vww1-r80", cache=zoo_dir) == p
    assert zoo.build(zoo.ARCHS["mcunet-vww1-r80"], seed=0) == p.read_bytes()
    assert zoo.build(zoo.ARCHS["mcunet-vww1-r80"], seed=1) != p.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.DEFAULT)
def test_tflm_runs_every_zoo_model(zoo_dir, name):
    """TFLM allocates and runs the model with realistic activations: no layer more than 10 % saturated, and the
    logits move with the input (a net whose statistics collapse would give the same logits for every input)."""
    path = zoo.model_path(name, cache=zoo_dir)
    st = zoo.activation_stats(path, samples=3)
    assert st["worst_saturation"] < 0.10, st
    assert st["logits_std_across_inputs"] > 5, st
    arena = reference.tflm_arena_bytes(path)
    assert arena is not None and arena["head"] > 0


@pytest.mark.parametrize("patch", [False, True], ids=["layer-by-layer", "patched"])
def test_vww1_generated_c_equals_tflm(zoo_dir, tmp_path, patch):
    """mcunet-vww1 80x80, layer by layer and with its patch-based first stage (MCUNetV2's showcase model): the C
    (ASan+UBSan build) equals TFLM at 0 LSB on random inputs; layer by layer, so does every intermediate layer
    (traced build vs kPreserveAllTensors)."""
    path = zoo.model_path("mcunet-vww1-r80", cache=zoo_dir)
    b = driver.build(path, tmp_path / "out", patch=patch)
    assert (b.plan.patch is not None) == patch
    xs = random_inputs(b.graph, 3, seed=7)
    tflm, _ = reference.run_tflm(path, xs)
    ours = validate.split_outputs(host.run(host.build(b.out, b.sources, exe="model_asan", sanitize=True), xs),
                                  b.graph, len(xs))
    for s, (a, t) in enumerate(zip(ours, tflm)):
        assert np.array_equal(a[0].reshape(-1), np.asarray(t[0]).reshape(-1)), f"sample {s}: {a[0]} vs {t[0]}"
    if patch:
        return  # validate.layer_diff does not trace patch-stage tensors yet (the traced harness writes windows)
    rows = validate.layer_diff(path, b, xs[:2])
    assert len(rows) == len(b.graph.ops)
    assert all(r["max_abs_diff_lsb"] == 0 for r in rows), validate.first_differing_layer(rows)
