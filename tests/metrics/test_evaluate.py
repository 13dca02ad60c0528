"""Per-task evaluation: records, task means, average over tasks, input row, serialisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from aioir.metrics import evaluate_pairs, get_protocol


def _samples() -> list[tuple[np.ndarray, np.ndarray, str, str]]:
    rng = np.random.default_rng(0)
    out = []
    for task, n, noise in (("noise", 2, 0.1), ("rain", 1, 0.2)):
        for i in range(n):
            gt = rng.random((20, 20, 3))
            out.append((np.clip(gt + rng.normal(0, noise, gt.shape), 0, 1), gt, task, f"{task}{i}.png"))
    return out


def _hand_psnr(x: np.ndarray, y: np.ndarray) -> float:
    x8, y8 = np.round(np.clip(x, 0, 1) * 255), np.round(y * 255)
    x8, y8 = x8[4:-4, 4:-4], y8[4:-4, 4:-4]
    return 10 * math.log10(255**2 / np.mean((x8 - y8) ** 2))


def test_task_means_and_average_over_tasks() -> None:
    samples = _samples()
    halve = lambda img: 0.5 * img + 0.25  # a deterministic "restoration"
    res = evaluate_pairs(halve, samples, "mioir", ["rain", "noise", "blur"], progress=False, measure_input=True)
    hand = [_hand_psnr(halve(lq), gt) for lq, gt, _, _ in samples]
    per_task = res.per_task()
    assert list(per_task) == ["rain", "noise"]  # task order kept, tasks without images left out
    assert per_task["noise"]["psnr"] == pytest.approx((hand[0] + hand[1]) / 2, abs=1e-9)
    assert per_task["rain"]["psnr"] == pytest.approx(hand[2], abs=1e-9)
    assert per_task["noise"]["count"] == 2
    # the average weights tasks equally, not images
    assert res.average()["psnr"] == pytest.approx(((hand[0] + hand[1]) / 2 + hand[2]) / 2, abs=1e-9)
    assert res.average()["count"] == 2
    hand_in = [_hand_psnr(lq, gt) for lq, gt, _, _ in samples]
    assert res.per_task("input")["rain"]["psnr"] == pytest.approx(hand_in[2], abs=1e-9)
    assert [r.name for r in res.records] == ["noise0.png", "noise1.png", "rain0.png"]


def test_to_dict_is_json_ready() -> None:
    res = evaluate_pairs(lambda x: x, _samples(), get_protocol("airnet"), progress=False)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["protocol"]["name"] == "airnet" and d["task_names"] == ["noise", "rain"]
    assert d["protocol_description"].startswith("Protocol 'airnet'")
    assert len(d["records"]) == 3 and "input_per_task" not in d
    assert d["per_task"]["rain"]["ssim"] == pytest.approx(d["records"][2]["ssim"])


def test_lpips_protocol_uses_the_given_function() -> None:
    calls: list[dict] = []

    def fake_lpips(a: np.ndarray, b: np.ndarray, **kw: object) -> float:
        calls.append(kw)
        return float(np.abs(a - b).mean())

    res = evaluate_pairs(lambda x: x, _samples(), "daclip", progress=False, lpips_fn=fake_lpips)
    assert calls[0] == {"crop_border": 4, "round_uint8": True} and len(calls) == 3
    assert "lpips" in res.per_task()["noise"]


def test_errors() -> None:
    with pytest.raises(ValueError, match="task 'rain', not in task_names"):
        evaluate_pairs(lambda x: x, _samples(), "mioir", ["noise"], progress=False)
    res = evaluate_pairs(lambda x: x, _samples(), "mioir", progress=False)
    with pytest.raises(ValueError, match="measure_input=True"):
        res.per_task("input")
    with pytest.raises(ValueError, match="shapes differ"):
        evaluate_pairs(lambda x: x[:-1], _samples(), "mioir", progress=False)
