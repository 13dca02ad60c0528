"""Released weights: layouts unwrapped and named, architectures and their options read off the
keys of the authors' real layouts (the manifests of /work/shared/reference/state_dicts, copied
in tests/models/manifests: every key and shape of the official networks, built on the ``meta``
device here, so no memory), ambiguous and unknown files answered with the candidates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aioir import models
from aioir.models.pretrained import count_indexed
from aioir.models.release import (
    AmbiguousReleaseError,
    ReleaseFile,
    UnknownReleaseError,
    identify,
    load_release,
    open_release,
    release_from_object,
)

MANIFESTS = Path(__file__).parent / "manifests"


def manifest_state(name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """The manifest's keys and shapes as ``meta`` tensors (what the release holds, no memory)."""
    data = json.loads((MANIFESTS / f"{name}.json").read_text())
    dtypes = dict.fromkeys(data.get("non_float32_tensors", {}), torch.int64)
    state = {k: torch.empty(v, device="meta", dtype=dtypes.get(k, torch.float32))
             for k, v in data["tensors"].items()}
    return state, data


def as_release(state: dict, name: str = "w.pth", layout: str = "plain state_dict") -> ReleaseFile:
    return ReleaseFile(Path(name), layout, state, "0" * 64)


# expected options: transcribed from the authors' configs (the manifests' `constructor` and
# FACTS.md), not from the code under test
PUBLISHED = {
    "promptir": ("promptir", {"dim": 48, "num_blocks": [4, 6, 6, 8], "heads": [1, 2, 4, 8],
                              "num_refinement_blocks": 4, "prompt_dims": [64, 128, 320],
                              "prompt_sizes": [64, 32, 16], "prompt_len": 5,
                              "unused_convs": True, "layernorm_type": "WithBias",
                              "bias": False, "ffn_expansion_factor": 2.66}),
    "promptir_mioir": ("promptir", {"unused_convs": False, "dim": 48}),
    "restormer": ("restormer", {"dim": 48, "num_blocks": [4, 6, 6, 8], "heads": [1, 2, 4, 8],
                                "num_refinement_blocks": 4, "layernorm_type": "WithBias",
                                "bias": False, "ffn_expansion_factor": 2.66}),
    "nafnet": ("nafnet", {"width": 32, "enc_blk_nums": [1, 1, 1, 28], "middle_blk_num": 1,
                          "dec_blk_nums": [1, 1, 1, 1]}),
    "nafnet_w64": ("nafnet", {"width": 64, "enc_blk_nums": [1, 1, 1, 28]}),
    "nafnet_sidd_w32": ("nafnet", {"width": 32, "enc_blk_nums": [2, 2, 4, 8],
                                   "middle_blk_num": 12, "dec_blk_nums": [2, 2, 2, 2]}),
    "airnet": ("airnet", {"n_feats": 64, "n_groups": 5, "n_blocks": 5, "embed_dim": 256,
                          "queue_size": 1280}),
    "srresnet_mioir": ("srresnet", {"num_feat": 64, "num_block": 16}),
    "uformer_mioir": ("uformer", {"embed_dim": 32, "depths": [1, 2, 8, 8, 2, 8, 8, 2, 1],
                                  "win_size": 8}),
    "transweather": ("transweather", {"embed_dims": [64, 128, 320, 512],
                                      "depths": [2, 2, 2, 2], "sr_ratios": [4, 2, 2, 1],
                                      "num_queries": 48, "dec_depth": 3, "tail_dims": [16, 8]}),
    "transweather_art": ("transweather_art", {"embed_dims": [64, 128, 320, 512]}),
}


@pytest.mark.parametrize("manifest", sorted(PUBLISHED))
def test_the_released_layouts_are_detected_with_their_published_options(manifest):
    state, data = manifest_state(manifest)
    found = identify(as_release(state))
    name, expected = PUBLISHED[manifest]
    assert found.model == name and found.chosen == "detected"
    for key, value in expected.items():
        assert found.options[key] == value, key
    # the network these options build has the release's size, counted by the authors' code
    from aioir.models.guard import meta_model

    net = meta_model(found.model, found.options, source="test")
    assert sum(t.numel() for t in net.state_dict().values()) == data["num_params_total"]


def test_restormer_biasfree_release_is_read_as_biasfree():
    """Restormer's denoising releases are ``LayerNorm_type: BiasFree``: the official layout
    without the layer norms' biases (every ``norm*.body.bias``)."""
    state, _ = manifest_state("restormer")
    bias_free = {k: v for k, v in state.items()
                 if not (".norm" in k and k.endswith(".body.bias"))}
    dropped = len(state) - len(bias_free)
    # 4+6+6+8 encoder/latent blocks, 6+6+4 decoder, 4 refinement: 2 norms each
    assert dropped == 2 * (4 + 6 + 6 + 8 + 6 + 6 + 4 + 4)
    found = identify(as_release(bias_free))
    assert (found.model, found.options["layernorm_type"]) == ("restormer", "BiasFree")
    with pytest.raises(ValueError, match="missing keys"):  # the WithBias default refuses it
        identify(as_release(bias_free), "restormer", {"layernorm_type": "WithBias"})


def test_count_indexed_reads_block_counts():
    state, _ = manifest_state("nafnet_sidd_w32")
    assert count_indexed(state, "middle_blks") == 12
    assert count_indexed(state, "encoders.2") == 4


def _tiny(name: str, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    return models.build(name, **{**models.reduced_options(name), **extra})


@pytest.mark.parametrize("layout,wrap,expected", [
    ("plain", lambda sd: sd, "plain state_dict"),
    ("basicsr", lambda sd: {"params": sd}, 'BasicSR {"params"}'),
    ("lightning", lambda sd: {"state_dict": {"net." + k: v for k, v in sd.items()},
                              "epoch": 7, "global_step": 9},
     'Lightning {"state_dict"}, prefix net.'),
    ("dataparallel", lambda sd: {"module." + k: v for k, v in sd.items()},
     "plain state_dict, prefix module."),
])
def test_layouts_are_unwrapped_and_named(tmp_path, layout, wrap, expected):
    net = _tiny("srresnet")
    path = tmp_path / f"{layout}.pth"
    torch.save(wrap(net.state_dict()), path)
    release = open_release(path)
    assert release.layout == expected
    assert release.state.keys() == net.state_dict().keys()
    import hashlib

    assert release.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_basicsr_prefers_the_ema_weights_and_key_picks_the_raw_ones(tmp_path):
    raw, ema = _tiny("srresnet"), _tiny("srresnet")
    with torch.no_grad():
        ema.conv_last.weight.add_(1.0)
    path = tmp_path / "mioir.pth"
    torch.save({"params": raw.state_dict(), "params_ema": ema.state_dict()}, path)
    net, meta = load_release(path)
    assert meta["layout"] == 'BasicSR {"params_ema"}'
    assert torch.equal(net.conv_last.weight, ema.conv_last.weight)
    net, meta = load_release(path, key="params")
    assert torch.equal(net.conv_last.weight, raw.conv_last.weight)


def test_safetensors_release(tmp_path):
    from safetensors.torch import save_file

    net = _tiny("nafnet")
    path = tmp_path / "nafnet.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    back, meta = load_release(path)
    assert meta["layout"] == "safetensors" and meta["model"] == "nafnet"
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(back(x), net.eval()(x))


def test_an_ambiguous_file_lists_the_candidates_and_the_option(monkeypatch):
    """A second name for the same network (as if two backbones shared a layout): both fit."""
    from aioir.models import tiny_unet

    models.names()  # the registry filled first
    monkeypatch.setitem(models.MODELS._factories, "tiny_unet_copy", tiny_unet.TinyUNet)
    state = _tiny("tiny_unet").state_dict()
    with pytest.raises(AmbiguousReleaseError) as err:
        identify(as_release(state))
    message = str(err.value)
    assert "tiny_unet, tiny_unet_copy" in message and "--model NAME" in message
    assert identify(as_release(state), "tiny_unet_copy").model == "tiny_unet_copy"


def test_an_unknown_file_names_the_closest_backbone():
    state = _tiny("nafnet").state_dict()
    state["extra.weight"] = torch.zeros(3)
    with pytest.raises(UnknownReleaseError, match=r"closest is nafnet \(0 missing, 1 unexpected"):
        identify(as_release(state))


def test_a_wrong_model_names_the_mismatch(tmp_path):
    path = tmp_path / "nafnet.pth"
    torch.save({"params": _tiny("nafnet").state_dict()}, path)
    with pytest.raises(ValueError, match="not a restormer's"):
        load_release(path, model="restormer")
    with pytest.raises(ValueError, match="unknown backbone"):
        load_release(path, model="nafnett")


def test_not_weights_at_all(tmp_path):
    path = tmp_path / "x.pth"
    torch.save({"epoch": 3}, path)
    with pytest.raises(ValueError, match="no weights found"):
        open_release(path)
    with pytest.raises(ValueError, match="holds a list"):
        release_from_object(path, [1, 2])
