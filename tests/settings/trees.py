"""Tiny dataset trees in the layouts of every setting, written with PIL.

Each builder returns the counts it wrote: ``{"train": {task: n}, "test": {column: n}}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 40  # a multiple of nothing special; three/five_task crop tests to 32x32 (multiple of 16)


def write(path: Path, seed: int, size: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    """A random RGB uint8 image of ``size`` (h, w) saved at ``path``; returns the array."""
    rng = np.random.default_rng(seed)
    a = (rng.random((*size, 3)) * 255).round().astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return a


def pair(lq: Path, gt: Path, seed: int, size: tuple[int, int] = (SIZE, SIZE)) -> None:
    write(lq, seed, size)
    write(gt, seed + 1000, size)


def three_task(root: Path) -> dict:
    for i, name in enumerate(["a.png", "b.png", "sub/c.jpg"]):
        write(root / "Train/Denoise" / name, i)
    for i in (1, 2):
        pair(root / f"Train/Derain/rainy/rain-{i}.png", root / f"Train/Derain/gt/norain-{i}.png", 10 + i)
    pair(root / "Train/Dehaze/synthetic/part1/0001_0.8_0.2.jpg", root / "Train/Dehaze/original/0001.jpg", 20)
    pair(root / "Train/Dehaze/synthetic/part2/0002_1_0.16.jpg", root / "Train/Dehaze/original/0002.jpg", 21)
    write(root / "Train/Dehaze/original/0003.jpg", 22)  # unused GT: allowed for RESIDE
    for i, name in enumerate(["x.png", "y.png"]):
        write(root / "test/denoise/bsd68" / name, 30 + i)
    for name in ("1.png", "2.png"):
        pair(root / "test/derain/Rain100L/input" / name, root / "test/derain/Rain100L/target" / name, 40)
    pair(root / "test/dehaze/input/0001_0.8_0.2.png", root / "test/dehaze/target/0001.png", 50)
    pair(root / "test/dehaze/input/0005_0.9_0.2.png", root / "test/dehaze/target/0005.png", 51)
    return {"train": {"denoise_15": 3, "denoise_25": 3, "denoise_50": 3, "derain": 2, "dehaze": 2},
            "test": {"denoise_15": 2, "denoise_25": 2, "denoise_50": 2, "derain": 2, "dehaze": 2}}


def five_task(root: Path) -> dict:
    three_task(root)
    for split, scenes in (("train", ("GOPR0372_07_00", "GOPR0374_11_00")), ("test", ("GOPR0384_11_00",))):
        for j, scene in enumerate(scenes):  # equal frame names in different scenes must not clash
            for frame in ("000047.png", "000048.png"):
                pair(root / f"GoPro/{split}/{scene}/blur/{frame}",
                     root / f"GoPro/{split}/{scene}/sharp/{frame}", 60 + j)
    for split, n in (("our485", 3), ("eval15", 1)):
        for i in range(n):
            pair(root / f"LOL/{split}/low/{i}.png", root / f"LOL/{split}/high/{i}.png", 70 + i)
    return {"train": {"denoise_25": 3, "derain": 2, "dehaze": 2, "deblur": 4, "lowlight": 3},
            "test": {"denoise_25": 2, "derain": 2, "dehaze": 2, "deblur": 2, "lowlight": 1}}


MIOIR = ["sr", "blur", "noise", "jpeg", "rain", "haze", "dark"]


def mioir7(root: Path) -> dict:
    for i in range(2):
        write(root / f"DF2K/{i:04d}.png", i)
        write(root / f"CL_test/original/GT/{i:04d}.png", 100 + i)
        for t in MIOIR:
            write(root / f"CL_test/single_indis/{t}/{i:04d}.png", 200 + i)
    return {"train": dict.fromkeys(MIOIR, 2), "test": dict.fromkeys(MIOIR, 2)}


def mioir7_depth(root: Path) -> dict:
    out = mioir7(root)
    for i in range(2):   # MiOIR's maps are a quarter of the image size; any size is resized
        (root / "DF2K_depth").mkdir(parents=True, exist_ok=True)
        np.save(root / f"DF2K_depth/{i:04d}.npy", np.linspace(0.1, 1.0, 16).reshape(4, 4))
    return out


def mioir7_offline(root: Path) -> dict:
    out = mioir7(root)
    for i in range(3):
        write(root / f"DF2K_sub300/GT_sub300/0001_s{i:03d}.png", i)
        for t in MIOIR:
            write(root / f"DF2K_sub300/{t}_sub300/0001_s{i:03d}.png", 300 + i)
    out["train"] = dict.fromkeys(MIOIR, 3)
    return out


def allweather(root: Path) -> dict:
    names = {"rainfog": ["im_0001_s80_a04.png", "im_0002_s95_a06.png"], "raindrop": ["3_rain.png"],
             "snow": ["beautiful_smile_00001.jpg", "city_read_00010.jpg"]}
    lines = []
    for k, files in enumerate(names.values()):
        for j, f in enumerate(files):
            pair(root / "train/allweather/input" / f, root / "train/allweather/gt" / f, 10 * k + j)
            lines.append(f"allweather/input/{f}")
    (root / "train/allweather.txt").write_text("\n".join(lines) + "\n")
    tests = {"snowtest100k_L.txt": ("Snow100K-L", 2), "raindroptesta.txt": ("test_a", 1), "test1.txt": ("Test1", 2)}
    for listname, (folder, n) in tests.items():
        files = [f"{folder}/input/{i}.png" for i in range(n)]
        for i, f in enumerate(files):
            pair(root / "test" / f, root / "test" / f.replace("/input/", "/gt/"), 90 + i)
        (root / "test" / listname).write_text("\n".join(files) + "\n")
    return {"train": {"snow": 2, "raindrop": 1, "rainfog": 2},
            "test": {"Snow100K-L": 2, "RainDrop": 1, "Test1": 2}}


def realweather(root: Path) -> dict:
    dirs = {"derain": ("Rain/RealRain/Training/rain", "Rain/RealRain/Training/gt"),
            "desnow": ("Snow/RealSnow/video2imgs_IN_training_re", "Snow/RealSnow/video2imgs_GT_training_re"),
            "dehaze": ("Haze/REVID/Train/hazy_re", "Haze/REVID/Train/gt_re"),
            "SPA+": ("Rain/RealRain/Testing/real_test_1000/rain_jpg", "Rain/RealRain/Testing/real_test_1000/gt_jpg"),
            "RealSnow": ("Snow/RealSnow/video2imgs_IN_testing_re", "Snow/RealSnow/video2imgs_GT_testing_re"),
            "REVIDE": ("Haze/REVID/Test/hazy_re", "Haze/REVID/Test/gt_re")}
    for k, (lq, gt) in enumerate(dirs.values()):
        pair(root / lq / "001.jpg", root / gt / "001.png", k)  # stem match across extensions
    return {"train": {"derain": 1, "desnow": 1, "dehaze": 1}, "test": {"SPA+": 1, "RealSnow": 1, "REVIDE": 1}}


DACLIP = ["motion-blurry", "hazy", "jpeg-compressed", "low-light", "noisy", "raindrop", "rainy",
          "shadowed", "snowy", "uncompleted"]


def daclip10(root: Path) -> dict:
    for k, d in enumerate(DACLIP):
        for split, n in (("train", 2), ("val", 1)):
            for i in range(n):
                pair(root / f"universal/{split}/{d}/LQ/{i}.png", root / f"universal/{split}/{d}/GT/{i}.png",
                     10 * k + i, (24, 24))
    return {"train": dict.fromkeys(DACLIP, 2), "test": dict.fromkeys(DACLIP, 1)}


BUILDERS = {"three_task": three_task, "five_task": five_task, "mioir7": mioir7,
            "mioir7_depth": mioir7_depth, "mioir7_offline": mioir7_offline, "allweather": allweather,
            "realweather": realweather, "daclip10": daclip10}
