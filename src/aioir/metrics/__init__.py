"""Image-quality metrics and per-task evaluation.

``psnr``/``ssim`` take float RGB images in [0, 1] (numpy HWC or torch CHW/BCHW with B = 1) and
the protocol options ``crop_border``, ``y_channel``, ``round_uint8``; ``psnr_batch``/
``ssim_batch`` give per-image values for BCHW batches. Named protocols (``get_protocol``) bundle
the options a paper used. LPIPS needs the optional ``lpips`` extra.

>>> import numpy as np
>>> a = np.random.default_rng(0).random((32, 32, 3))
>>> psnr(a, a), ssim(a, a)
(inf, 1.0)
"""

from .evaluate import EvalResult, ImageRecord, evaluate_pairs
from .image import bt601_y, prepare_pair, to_bchw
from .perceptual import LpipsUnavailableError, load_lpips, lpips_distance
from .protocol import PROTOCOLS, Protocol, get_protocol
from .psnr import psnr, psnr_batch
from .ssim import gaussian_window, ssim, ssim_batch

__all__ = [
    "EvalResult",
    "ImageRecord",
    "LpipsUnavailableError",
    "PROTOCOLS",
    "Protocol",
    "bt601_y",
    "evaluate_pairs",
    "gaussian_window",
    "get_protocol",
    "load_lpips",
    "lpips_distance",
    "prepare_pair",
    "psnr",
    "psnr_batch",
    "ssim",
    "ssim_batch",
    "to_bchw",
]
