"""The gradient norm before clipping is logged (metrics.jsonl ``grad_norm``) when clipping is on."""

import json

import torch

from aioir.engine.run import train


def test_logged_grad_norm_is_the_norm_of_the_gradients_before_clipping(tmp_path, monkeypatch,
                                                                        make_config):
    seen = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        params = list(params)
        # the norm computed here from the raw gradients, before the real call clips them
        seen.append(sum(float((p.grad.double() ** 2).sum()) for p in params
                        if p.grad is not None) ** 0.5)
        return real(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    train(make_config(steps=3, grad_clip=0.05), tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    logged = [r["grad_norm"] for r in records if "grad_norm" in r]
    assert len(logged) == 3 and len(seen) == 3
    for got, want in zip(logged, seen):
        assert abs(got - want) <= 1e-5 * want


def test_no_grad_norm_without_clipping(tmp_path, make_config):
    train(make_config(steps=2, grad_clip=None), tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert records and not any("grad_norm" in r for r in records)
