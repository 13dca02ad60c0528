"""JPEG compression artefacts (MiOIR "jpeg").

The image is rounded to 8 bits, encoded with Pillow (libjpeg, baseline, default 4:2:0 chroma
subsampling) at ``quality`` and decoded again. (MiOIR's scripts used BasicSR's ``DiffJPEG``, a
PyTorch re-implementation of the same standard quantisation tables; results differ from libjpeg
by rounding details.)

>>> import numpy as np
>>> img = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
>>> y = jpeg(img, np.random.default_rng(0), quality=10)
>>> y.dtype, y.shape, bool(np.all(y * 255 == np.round(y * 255)))
(dtype('float32'), (8, 8, 3), True)
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from aioir.degradations._image import to_uint8


def jpeg(img: np.ndarray, rng: np.random.Generator, *, quality: int) -> np.ndarray:
    """Encode/decode through JPEG at ``quality`` (1-100); deterministic (``rng`` unused)."""
    buf = io.BytesIO()
    Image.fromarray(to_uint8(img)).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as decoded:
        out = np.asarray(decoded.convert("RGB"), dtype=np.float32)
    return out / np.float32(255.0)
