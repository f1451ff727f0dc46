import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MODELS = SHARED / "models" / "mlperf-tiny"


@pytest.fixture
def shared_models() -> Path:
    if not MODELS.is_dir():
        pytest.fail(f"{MODELS} is missing: tests read the shared models from ../shared beside the repository")
    return MODELS
