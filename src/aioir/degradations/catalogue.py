"""The task catalogue: every named degradation task with its default id and parameter ranges.

MiOIR's seven tasks (the TUR/Art "Setting 1") use the ranges of Kong, Dong & Zhang (2024) and
their data scripts, in-distribution (``dist="in"``, training and the main test set) and
out-of-distribution (``dist="out"``). ``denoise_15/25/50`` are the fixed-level Gaussian noise
tasks of the AirNet/PromptIR three-task setting.

>>> MIOIR_TASKS
['sr', 'blur', 'noise', 'jpeg', 'rain', 'haze', 'dark']
>>> [TASKS[n].id for n in MIOIR_TASKS]
[0, 1, 2, 3, 4, 5, 6]
>>> TASKS["noise"].ranges("out")
{'sigma': (50, 70)}
>>> task_ids(["denoise_15", "denoise_25", "denoise_50"])
{'denoise_15': 0, 'denoise_25': 1, 'denoise_50': 2}
"""

from __future__ import annotations

from aioir.degradations.blur import blur
from aioir.degradations.dark import dark
from aioir.degradations.haze import haze
from aioir.degradations.jpeg import jpeg
from aioir.degradations.noise import noise
from aioir.degradations.rain import rain, rain_window
from aioir.degradations.spec import Param, TaskSpec, suggest
from aioir.degradations.sr import sr

MIOIR = "MiOIR (Kong, Dong & Zhang 2024) and its data scripts"

_SPECS = [
    TaskSpec(
        "sr", 0, "bicubic x1/scale down, bicubic up to H x W (low resolution)",
        (
            Param("scale", "choice", (4,), (4,), domain=(1, 16),
                  doc="downscale factor; MiOIR has no out-of-distribution level, so out = in (x4)"),
            Param("antialias", "option", (False,), doc="anti-alias the downscale (MiOIR: no)"),
        ),
        sr, reference=MIOIR,
        # bicubic down then up: 2 LR taps (2 x scale px) each way; LR grid anchored at (0, 0)
        context=lambda p: (4 * int(p["scale"]), int(p["scale"])),
    ),
    TaskSpec(
        "blur", 1, "isotropic Gaussian blur, reflected borders",
        (
            Param("kernel_size", "choice", (7, 9, 11, 13, 15, 17, 19, 21), domain=(1, 101), odd=True,
                  doc="kernel side in px"),
            Param("sigma", "uniform", (1.0, 3.0), (3.0, 5.0), domain=(0.01, 50.0), doc="std in px"),
        ),
        blur, reference=MIOIR,
        context=lambda p: (int(p["kernel_size"]) // 2, 1),
    ),
    TaskSpec(
        "noise", 2, "additive white Gaussian noise, RGB, clipped",
        (Param("sigma", "round", (15, 50), (50, 70), domain=(0.0, 255.0), dtype="float",
               doc="std on the 0-255 scale (draws: round(U(lo, hi)))"),),
        noise, reference=MIOIR,
    ),
    TaskSpec(
        "jpeg", 3, "JPEG compression (Pillow/libjpeg)",
        (Param("quality", "round", (30, 70), (10, 30), domain=(1, 100),
               doc="JPEG quality (draws: round(U(lo, hi)))"),),
        jpeg, reference=MIOIR,
        # 16 x 16 MCUs (4:2:0) anchored at (0, 0); chroma upsampling reads the next MCU
        context=lambda p: (16, 16),
    ),
    TaskSpec(
        "rain", 4, "synthetic rain streaks added to the image",
        (
            Param("value", "integers", (50, 99), (100, 149), domain=(0, 25600),
                  doc="seed density: value / 25600 of the pixels start a streak"),
            Param("length", "integers", (20, 40), domain=(1, 200), doc="streak length in px"),
            Param("angle", "integers", (-45, 44), domain=(-90.0, 90.0), dtype="float",
                  doc="streak angle from the vertical in degrees, counter-clockwise (MiOIR: "
                      "np.random.randint(-45, 45), i.e. -45..44)"),
            Param("width", "choice", (3, 5, 7, 9, 11), domain=(1, 31), odd=True,
                  doc="OpenCV-style Gaussian blur size giving the streak width"),
        ),
        rain, reference=MIOIR,
        context=lambda p: None,  # the streak layer is min-max normalised over the whole image
        window_fn=rain_window,
    ),
    TaskSpec(
        "haze", 5, "atmospheric scattering haze, y = x t + A (1 - t), t = exp(-beta d)",
        (
            Param("beta", "uniform", (0.5, 2.5), (2.5, 3.0), domain=(0.0, 20.0), doc="scattering coefficient"),
            Param("airlight", "uniform", (0.8, 1.0), domain=(0.0, 1.0), doc="grey airlight A"),
        ),
        haze, arrays=("depth",), inputs=("depth_scale",), reference=MIOIR,
        notes="without depth=, a colour-attenuation-prior pseudo-depth (aioir.degradations.depth)",
    ),
    TaskSpec(
        "dark", 6, "low light by a gamma curve, y = x ** gamma",
        (Param("gamma", "uniform", (1.0, 3.0), (3.0, 4.0), domain=(0.1, 10.0), doc="gamma exponent"),),
        dark, reference=MIOIR,
    ),
]
for _i, _level in enumerate((15, 25, 50)):
    _SPECS.append(
        TaskSpec(
            f"denoise_{_level}", 7 + _i, f"additive white Gaussian noise, sigma {_level}/255, RGB, clipped",
            (Param("sigma", "choice", (_level,), domain=(_level, _level), dtype="float",
                   doc="std on the 0-255 scale (fixed)"),),
            noise, reference="AirNet / PromptIR three-task setting",
        )
    )

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _SPECS}
"""Task name -> :class:`TaskSpec` (default id, parameters, ranges, function)."""

MIOIR_TASKS: list[str] = ["sr", "blur", "noise", "jpeg", "rain", "haze", "dark"]
"""MiOIR's seven tasks in their id order."""

DENOISE_TASKS: list[str] = ["denoise_15", "denoise_25", "denoise_50"]
"""The fixed-level denoising tasks of the three-task setting, in its id order."""


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` called ``name``; ``ValueError`` naming the closest task otherwise."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}{suggest(str(name), list(TASKS))} Known: {', '.join(TASKS)}")
    return TASKS[name]


def task_ids(names: list[str] | tuple[str, ...]) -> dict[str, int]:
    """Ids ``0..K-1`` for a setting given as a list of task names, in list order.

    Unknown or repeated names are ``ValueError``.
    """
    ids: dict[str, int] = {}
    for name in names:
        get_task(name)
        if name in ids:
            raise ValueError(f"task {name!r} is listed twice in the setting")
        ids[name] = len(ids)
    return ids
