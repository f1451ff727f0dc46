"""The MLPerf Tiny float32 models built as float C (`--dtype float32`), run under ASan+UBSan, against TFLite
Micro's float kernels, LiteRT's reference kernels and edgec's numpy reference (float64 sums).

Measured with these seeds (docs/numerics.md, "Float32"): the C equals TFLM to the bit on all three models (same
summation order, same libm), and is within 7e-7 of the output range of the float64-summed reference. The
assertions use the documented tolerance, max |diff| <= 1e-5 x max |output|, which other compilers and libms
(expf, tanhf) must also meet. kws_ref_model_float32 is a hybrid model (int8 conv weights, float activations):
refused with one clear error.
"""

import numpy as np
import pytest
from oneop import FLOAT_TOLERANCE, float_errors

from edgec import driver, host, reference
from edgec.data import random_inputs
from edgec.errors import InputError

MODELS = ["ad01_fp32.tflite", "pretrainedResnet.tflite", "vww_96_float.tflite"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_float_model_matches_tflm(shared_models, tmp_path, name):
    path = shared_models / name
    b = driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    g = b.graph
    assert all(g.t(t).dtype == "float32" for t in [*g.inputs, *g.outputs])
    xs = random_inputs(g, 10, seed=1)
    ours = driver.split_outputs(host.run(host.build(b.out, b.sources, sanitize=True), xs), g, len(xs))
    refs = {"TFLM": reference.run_tflm(path, xs)[0],
            "numpy": [[reference.run_numpy(g, s)[o] for o in g.outputs] for s in xs]}
    if reference.litert_available():
        refs["LiteRT"] = reference.run_litert(path, xs)
    report = []
    for ref_name, theirs in refs.items():
        worst, rel = float_errors(ours, theirs)
        report.append(f"{ref_name}: max |diff| {worst:.3g} ({rel:.3g} of the output range)")
        assert rel <= FLOAT_TOLERANCE, f"{name} vs {ref_name}: " + "; ".join(report)
    top1 = np.mean([np.argmax(a[0]) == np.argmax(np.asarray(t[0])) for a, t in zip(ours, refs["TFLM"])])
    assert top1 == 1.0, f"{name}: top-1 agreement with TFLM {top1}"
    print(f"{name}: " + "; ".join(report))


def test_hybrid_mlperf_model_is_refused(shared_models):
    with pytest.raises(InputError, match="hybrid .*CONV_2D"):
        driver.compile_model(shared_models / "kws_ref_model_float32.tflite",
                             conversion=driver.Conversion(dtype="float32"))
