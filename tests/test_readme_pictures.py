"""The screenshots the README shows stay small, real PNGs.

They are crops the browser test saves in tests/artifacts/ (<notebook>-stepper/-plot/-exercise.png), picked by hand
and copied to docs/ (stepper.png, plot.png, exercise.png) when a chapter's look changes.
"""
import struct
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("path", sorted(DOCS.glob("*.png")), ids=lambda p: p.name)
def test_readme_screenshots_are_small_pngs(path):
    width, height = _png_size(path)
    assert path.stat().st_size < 150_000, f"{path.name}: {path.stat().st_size} bytes (keep README pictures < 150 KB)"
    assert 200 <= width <= 1400 and 100 <= height <= 1200, f"{path.name}: {width}x{height} px"
