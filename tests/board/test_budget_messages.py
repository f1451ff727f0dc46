"""A model too big for both the flash and the SRAM of a board is told both, also when the linker finds it: the
schedule lets the arena through (a --sram-budget above the board's), then the link overflows both regions."""

from __future__ import annotations

from run_cli import assert_error, edgec
from small_models import wide_fc
from test_cortexm import needs_tools

from edgec.errors import EXIT_BUDGET


@needs_tools
def test_the_linker_names_both_regions(tmp_path):
    model = tmp_path / "big.tflite"
    model.write_bytes(wide_fc(150_000, 4))  # 600 KB of weights, a 150 KB input
    assert_error(edgec("build", model, "--board", "nucleo_f411re", "--sram-budget", "1M",
                       "--out", tmp_path / "out"),
                 EXIT_BUDGET, "does not fit board `nucleo_f411re`", "region FLASH (flash)", "budget 524,288 B",
                 "region SRAM (sram)", "budget 131,072 B")
    assert not (tmp_path / "out").exists()
