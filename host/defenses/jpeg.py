"""JPEG compression at quality q of the 8-bit pixels (Dziugaite et al., Guo et al.).

Each image is rounded to 8-bit pixels, encoded as a baseline JPEG with PIL at quality ``q``
(4:2:0 chroma subsampling for colour images, PIL's default), decoded, and scaled back to [0,1].
PIL's encoder and decoder are deterministic, so the same image always gives the same bytes. A
pixel defense only: the firmware does not run it.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from host.defenses.base import Preprocessor
from host.errors import UserError


class Jpeg(Preprocessor):
    """JPEG round trip at quality ``quality`` (1..95) on [0,1] NHWC images (1 or 3 channels)."""

    def __init__(self, quality: int) -> None:
        if not 1 <= quality <= 95:
            raise UserError(f"jpeg{quality}: the quality must be 1..95")
        self.quality = quality
        self.name = f"jpeg{quality}"

    def pixels(self, x01: np.ndarray) -> np.ndarray:
        x = np.asarray(x01, dtype=np.float32)
        if x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise UserError(f"{self.name} works on images with 1 or 3 channels, got {x.shape}")
        pixels = np.floor(np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        out = np.empty_like(pixels)
        for i, image in enumerate(pixels):
            mode = "L" if image.shape[-1] == 1 else "RGB"
            buffer = io.BytesIO()
            Image.fromarray(image.squeeze(-1) if mode == "L" else image, mode).save(
                buffer, format="JPEG", quality=self.quality
            )
            decoded = np.asarray(Image.open(buffer).convert(mode))
            out[i] = decoded.reshape(image.shape)
        return out.astype(np.float32) / np.float32(255.0)
