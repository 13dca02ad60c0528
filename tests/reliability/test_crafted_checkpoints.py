"""Crafted, damaged and foreign checkpoints given to ``eval``, ``export`` and ``train --resume``:
each ends in one line naming the file, nothing is executed, nothing huge is allocated."""

from __future__ import annotations

import copy
import os
import pickle
import time
import warnings

import pytest
import torch

from aioir.cli import main


class _RunsCode:
    """A pickle that would create a file when unpickled (weights_only=True must refuse it)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _crafted(tmp_path, reference, kind: str):
    """The path of one crafted file, made from the reference run's last checkpoint."""
    good = reference.run_dir / "checkpoints" / "step_00000008.pt"
    state = torch.load(good, weights_only=True)
    path = tmp_path / f"{kind}.pt"
    if kind == "huge-options":  # tiny_unet width 20000: 1.4 TB of parameters
        state = copy.deepcopy(state)
        state["config"]["model"]["options"] = {"width": 20000}
    elif kind.startswith("deep-"):  # depth instead of width: few bytes, endless modules
        state["config"]["model"]["name"], opts = DEEP[kind]
        state["config"]["model"]["options"] = opts
    elif kind == "wrong-width":  # weights of width 8 under options of width 16
        state["config"]["model"]["options"] = {"width": 16}
    elif kind == "unknown-option":
        state["config"]["model"]["options"] = {"widht": 8}
    elif kind == "unknown-model":
        state["config"]["model"]["name"] = "tiny_unte"
    elif kind == "no-config":
        del state["config"]
    elif kind == "pickle-with-code":
        with open(path, "wb") as fh:
            pickle.dump({"format": "aioir-checkpoint", "x": _RunsCode(str(tmp_path / "pwned"))},
                        fh)
        return path
    elif kind == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path
    elif kind == "an-image":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
        return path
    torch.save(state, path)
    return path


#: options asking for depth: tiny_unet / nafnet with millions of blocks (the weights hold 64
#: tensors, so at most 4 x 64 + 64 = 320 modules are built before the refusal)
DEEP = {"deep-tiny_unet": ("tiny_unet", {"width": 8, "blocks": 100_000_000}),
        "deep-nafnet": ("nafnet", {"middle_blk_num": 10_000_000}),
        "deep-20000": ("tiny_unet", {"width": 8, "blocks": 20_000})}

CASES = {
    "huge-options": "huge-options.pt asks for a tiny_unet with options {'width': 20000}, which "
                    "holds 1.4 TB of parameters and buffers",
    "wrong-width": "wrong-width.pt does not match TinyUNet",
    "unknown-option": "unknown-option.pt: tiny_unet does not take the options {'widht': 8}",
    "unknown-model": "unknown-model.pt: unknown model 'tiny_unte'; did you mean 'tiny_unet'?",
    "no-config": "no-config.pt is damaged or not a complete aioir training checkpoint: missing "
                 "or invalid config.model.name",
    "pickle-with-code": "cannot load checkpoint",
    "truncated": "cannot load checkpoint",
    "an-image": "cannot load checkpoint",
    **{kind: f"{kind}.pt asks for a {name} with options {opts}, which builds more than 320 "
             f"modules" for kind, (name, opts) in DEEP.items()},
}


@pytest.mark.parametrize("kind", list(CASES))
@pytest.mark.parametrize("command", ["eval", "export"])
def test_crafted_checkpoints_end_in_one_line(tmp_path, reference, capsys, kind, command):
    path = _crafted(tmp_path, reference, kind)
    out = tmp_path / "out"
    argv = ([command, str(path), "--setting", "embedded", "--out", str(out)] if command == "eval"
            else [command, str(path), "--out", str(out / "net.safetensors")])
    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:  # what a terminal would show
        warnings.simplefilter("always")
        rc = main(argv)
    assert time.monotonic() - start < 20, "the crafted options were built"
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith(f"aioir {command}: error: ") and str(path.name) in err, err
    # the error's line, then only its indented details: no warning, torch's text cut to its reason
    assert all(line.startswith("  ") for line in err.strip().splitlines()[1:]), err
    assert "Check the documentation" not in err and "UserWarning" not in err, err
    assert not [str(w.message) for w in caught if "pickle protocol" in str(w.message)]
    assert CASES[kind] in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "pwned").exists()  # the pickle's code never ran
    assert not out.exists() or not any(out.iterdir())


def test_resume_from_a_crafted_checkpoint_is_refused_before_building_it(tmp_path, reference,
                                                                        capsys):
    path = _crafted(tmp_path, reference, "huge-options")
    run = tmp_path / "run"
    rc = main(["train", str(reference.cfg_path), "--out", str(run), "--resume", str(path)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "model.options.width (20000 -> 8)" in err and "--allow-changes" in err, err
    assert not run.exists()  # a refused run leaves nothing behind
