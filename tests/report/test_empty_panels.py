"""Panels that would say nothing are not drawn: a validation curve with one point per run, a
per-task curve whose every value is the same (e.g. an all-zero ``clamped``)."""

from __future__ import annotations

import json

from aioir.report.build import make_report


def _run(folder, records):
    (folder / "eval").mkdir(parents=True)
    (folder / "config.yaml").write_text("strategy: {name: art}\nval: {source: none}\n"
                                        "data: {tasks: [rain, dark]}\n")
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    score = {"psnr": 30.0, "ssim": 0.9}
    (folder / "eval" / "step_00000004.json").write_text(json.dumps(
        {"task_names": ["rain", "dark"], "per_task": {"rain": score, "dark": score},
         "average": score}))
    return folder


def test_single_point_validation_and_constant_curves_are_skipped_with_a_reason(tmp_path):
    records = [{"step": s, "lr": 1e-3, "loss": 1.0 / s,
                "task_loss": {"rain": 0.5 / s, "dark": 0.4 / s},
                "task_weight": {"rain": 0.4 + 0.01 * s, "dark": 0.6 - 0.01 * s},
                "clamped": {"rain": 0, "dark": 0}} for s in (1, 2, 3, 4)]
    records.append({"step": 4, "val": {"rain": {"psnr": 30.0}, "dark": {"psnr": 30.0}},
                    "val_avg": {"psnr": 30.0}})
    run = _run(tmp_path / "art", records)
    result = make_report([run], tmp_path / "r", cost=False)
    drawn = {f.id for f in result.drawn}
    skipped = {f.id: f.skipped for f in result.skipped}
    assert {"train_task_loss", "train_task_weight", "learning_rate"} <= drawn
    assert "every logged 'clamped' is 0" in skipped["train_clamped"]
    assert "validated once" in skipped["validation_psnr"]


def _eval_run(folder, strategy, psnrs):
    (folder / "eval").mkdir(parents=True)
    (folder / "config.yaml").write_text(f"strategy: {{name: {strategy}}}\nval: {{source: none}}\n")
    (folder / "metrics.jsonl").write_text('{"step": 1, "lr": 0.001}\n')
    records = [{"task": "rain", "name": f"{i}.png", "psnr": p, "ssim": 0.9}
               for i, p in enumerate(psnrs)]
    mean = {"psnr": sum(psnrs) / len(psnrs), "ssim": 0.9}
    (folder / "eval" / "step_00000001.json").write_text(json.dumps(
        {"task_names": ["rain"], "per_task": {"rain": mean}, "average": mean,
         "records": records}))


def test_mixed_leads_and_is_the_default_baseline_with_paired_intervals(tmp_path):
    # folders in alphabetical order: art, gradnorm, mixed, tur
    _eval_run(tmp_path / "runs" / "art", "art", [30.0, 31.0, 33.0, 29.0])
    _eval_run(tmp_path / "runs" / "gradnorm", "gradnorm", [30.5, 31.0, 32.0, 29.0])
    _eval_run(tmp_path / "runs" / "mixed", "mixed", [30.0, 30.0, 32.0, 29.0])
    _eval_run(tmp_path / "runs" / "tur", "tur", [30.2, 30.2, 32.2, 29.2])
    result = make_report([tmp_path / "runs"], tmp_path / "r", figures=False, cost=False)
    assert result.baseline == "mixed"
    labels = [row[0] for row in result.document.rows]
    assert labels == ["mixed", "tur", "art", "gradnorm", "tur vs mixed (dB)",
                      "art vs mixed (dB)", "gradnorm vs mixed (dB)"]
    tur = result.document.rows[4]
    # every image gains exactly 0.2 dB: the paired interval is the point itself
    assert tur[2] == "+0.20 [+0.20, +0.20]*"
    art = result.document.rows[5]  # differences 0, 1, 1, 0: mean 0.5, within [0, 1]
    assert art[2].startswith("+0.50 [") and art[2].rstrip("*").endswith("]")
    none = make_report([tmp_path / "runs"], tmp_path / "r2", figures=False, cost=False,
                       baseline="none")
    assert none.baseline is None and not any(" vs " in r[0] for r in none.document.rows)
