"""Every stage of the paradigm end to end on the embedded photographs, on CPU, through the one
engine: pretrain -> sample -> match -> finetune (GEF, every strategy, MoE) -> export -> eval,
exact resume, and the incremental schedule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aioir import strategies
from aioir.checkpoint import load_checkpoint
from aioir.cli import main
from aioir.config.schema import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    StageConfig,
    TrainConfig,
    ValConfig,
)
from aioir.diffusion import pipeline

TASKS = ["noise", "dark", "jpeg"]
GEF = {"gen_ratio": 0.3, "orthog_samples": 2, "importance_batches": 1}


def config(steps: int = 2, **options) -> RunConfig:
    return RunConfig(
        name="d",
        model=ModelConfig(name="diffusion", options={
            "backbone": "tiny_unet", "backbone_options": {"width": 8}, "embed_dim": 8,
            "timesteps": 50, **options}),
        data=DataConfig(tasks=list(TASKS), patch_size=16, batch_size=2),
        optim=OptimConfig(lr=1e-3),
        train=TrainConfig(steps=steps, seed=3, device="cpu", ema_decay=0.9, log_every=1,
                          checkpoint_every=2, threads=1, progress=False),
        val=ValConfig(max_size=32),
    )


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    run = tmp_path_factory.mktemp("pre")
    out = pipeline.pretrain(config(steps=2), run, importance_batches=1, sample_count=1,
                            sample_size=16)
    assert out.train.status == "finished"
    return run


def test_pretraining_writes_network_prior_and_samples(pretrained):
    rows = [json.loads(line) for line in (pretrained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(r["aux"]["gen"] > 0 for r in rows)
    assert json.loads((pretrained / "metrics.jsonl").read_text().splitlines()[0])["loss"] == 0.0
    for name in ("pretrained.safetensors", "prior.safetensors", "samples.png"):
        assert (pretrained / name).is_file(), name
    with pytest.raises(ValueError, match="recon_weight: 0"):
        cfg = config(steps=2)
        cfg.train.stages = [StageConfig(steps=2, recon_weight=1.0)]
        pipeline.pretrain_config(cfg)


def test_match_command_prints_the_table_beside_the_papers(pretrained, tmp_path, capsys):
    out = tmp_path / "match"
    code = main(["diffusion", "match", str(pretrained), "--tasks", "noise,dark,sr", "--pairs",
                 "2", "--size", "16", "--criterion", "x0", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "paper (Tab. 4, 10-task DA-CLIP setting): noisy 4, rainy 8, jpeg 12" in printed
    assert "low-light" in printed and "t_mat (paper)" in printed
    table = json.loads((out / "t_mat.json").read_text())
    assert set(table["t_mat"]) == {"noise", "dark", "sr"} and table["criterion"] == "x0"
    assert all(1 <= t <= 50 for t in table["t_mat"].values())
    assert (out / "t_mat.md").is_file() and (out / "t_mat.csv").is_file()
    # no silent overwrite
    assert main(["diffusion", "match", str(pretrained), "--tasks", "noise", "--pairs", "1",
                 "--size", "16", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("strategy", strategies.names())
def test_finetune_with_gef_under_every_strategy(pretrained, tmp_path, strategy):
    cfg = config(steps=2, gef=GEF)
    cfg.strategy.name = strategy
    cfg.val.enabled = strategy == "tur"
    tmat = {"noise": 4, "dark": 20, "jpeg": 9}
    out = pipeline.finetune(cfg, tmp_path, pretrained=pretrained, tmat=tmat)
    assert out.train.status == "finished" and out.train.skipped_steps == 0
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "loss" in r]   # training records (the validation has its own)
    assert len(rows) == 2 and all(set(r["aux"]) == {"gen", "reg", "orthog"} for r in rows)
    saved = json.loads(json.dumps(load_checkpoint(out.train.checkpoint)["config"]))
    opts = saved["model"]["options"]
    assert opts["task_t"] == tmat and opts["require_t"] and opts["test_t"] is None
    assert opts["gef"]["prior"] == str(tmp_path / "prior.safetensors")
    if strategy == "tur":   # per-task evaluation, every task at its own t
        assert set(out.evaluation["per_task"]) == set(TASKS)
        assert (tmp_path / "eval" / "step_00000002.json").is_file()


def test_finetune_resumes_exactly(pretrained, tmp_path):
    cfg = config(steps=4, gef=GEF)
    cfg.val.enabled = False
    tmat = {"noise": 4, "dark": 20, "jpeg": 9}
    full = pipeline.finetune(cfg, tmp_path / "full", pretrained=pretrained, tmat=tmat)
    half = tmp_path / "full" / "checkpoints" / "step_00000002.pt"
    # another folder's checkpoint: the run's copy of the prior has another path (the same
    # file), which the resume policy counts as a change of the config
    resumed = pipeline.finetune(cfg, tmp_path / "resumed", pretrained=pretrained, tmat=tmat,
                                resume=str(half), allow_changes=True)
    a = load_checkpoint(full.train.checkpoint)
    b = load_checkpoint(resumed.train.checkpoint)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_moe_adapters_train_and_the_single_task_network_exports(pretrained, tmp_path, capsys):
    cfg = config(steps=2, moe_experts=3, moe_blocks=2, gef=GEF)
    cfg.data.tasks = ["dark"]
    out = pipeline.finetune(cfg, tmp_path / "run", pretrained=pretrained, tmat="paper")
    state = load_checkpoint(out.train.checkpoint)
    opts = state["config"]["model"]["options"]
    assert opts["test_t"] == 38 and not opts["require_t"]            # the paper's low-light t
    assert any(float(v.abs().sum()) > 0 for k, v in state["model"].items()
               if k.startswith("moe.") and k.endswith(".scale"))
    export = tmp_path / "net.safetensors"
    assert main(["export", str(out.train.checkpoint), "--out", str(export)]) == 0
    from aioir.inference.reader import load_network

    net, meta = load_network(export)
    assert meta["model"] == "diffusion" and net.test_t == 38
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x), net(x, 38))
    assert main(["diffusion", "eval", str(out.train.checkpoint)]) == 0
    assert "dark" in capsys.readouterr().out


def test_errors_are_clear(pretrained, tmp_path, capsys):
    with pytest.raises(ValueError, match="no t_mat for task"):
        pipeline.prepare_finetune(config(), tmp_path, pretrained=pretrained, tmat={"noise": 3})
    with pytest.raises(ValueError, match=r"model.name"):
        cfg = config()
        cfg.model.name = "tiny_unet"
        pipeline.pretrain_config(cfg)
    png = tmp_path / "s.png"
    png.write_bytes(b"x")
    assert main(["diffusion", "sample", str(pretrained), "--out", str(png)]) == 2
    assert "exists" in capsys.readouterr().err
    tmat = {"noise": 4, "dark": 20, "jpeg": 9}
    with pytest.raises(ValueError, match="2 steps cannot give each of 3 stages a step"):
        pipeline.incremental(config(steps=2, gef=GEF), tmp_path / "inc", pretrained=pretrained,
                             tmat=tmat)
    assert not (tmp_path / "inc").exists()          # refused before anything is written
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "prior.safetensors").write_bytes(b"another run's prior")
    with pytest.raises(ValueError, match="prior of another pre-training run"):
        pipeline.prepare_finetune(config(gef=GEF), tmp_path / "other", pretrained=pretrained,
                                  tmat=tmat)


def test_incremental_schedule_in_the_engine(pretrained, tmp_path):
    cfg = config(steps=3, moe_experts=3, gef=GEF)
    cfg.val.enabled = False
    tmat = {"noise": 4, "dark": 38, "jpeg": 12}
    prepared = pipeline.prepare_finetune(cfg, tmp_path, pretrained=pretrained, tmat=tmat)
    inc = pipeline.incremental_config(prepared, steps_per_task=1)
    assert [s.tasks for s in inc.train.stages] == [["noise"], ["noise", "jpeg"],
                                                   ["noise", "jpeg", "dark"]]
    assert [s.fresh_optimizer for s in inc.train.stages] == [False, True, True]
    out = pipeline.incremental(cfg, tmp_path / "run", pretrained=pretrained, tmat=tmat,
                               steps_per_task=1)
    assert out.train.status == "finished" and out.train.step == 3
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
            .splitlines() if '"task_loss"' in line]
    allowed = [{"noise"}, {"noise", "jpeg"}, {"noise", "jpeg", "dark"}]
    assert len(rows) == 3
    for row, tasks in zip(rows, allowed):     # each stage draws only from its tasks
        assert set(row["task_loss"]) <= tasks, (row["step"], row["task_loss"])
    assert set(rows[0]["task_loss"]) == {"noise"}
    assert [r["stage"] for r in rows] == [0, 1, 2]
    state = load_checkpoint(out.train.checkpoint)   # the MoE adapters trained with the stages
    assert any(float(v.abs().sum()) > 0 for k, v in state["model"].items()
               if k.startswith("moe.") and k.endswith(".scale"))


def test_eval_on_a_setting_gives_each_column_its_tasks_step(tmp_path, capsys):
    """Setting A dehazing (RESIDE main, REVIDE generalisation): both columns map to the task
    'hazy' and are restored at its t_mat; the PSNR matches a restoration done here by hand."""
    import numpy as np
    from PIL import Image

    from aioir.inference.export import save_exported
    from aioir.metrics import get_protocol, psnr
    from aioir.models.diffusion.network import DiffusionNet

    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    images = {}
    for folder, lq, gt in [("RESIDE-6K/train", "hazy", "GT"), ("RESIDE-6K/test", "hazy", "GT"),
                           ("REVIDE/Test", "hazy", "gt")]:
        for name in ("a.png", "b.png"):
            for sub in (lq, gt):
                a = (rng.random((24, 24, 3)) * 255).round().astype(np.uint8)
                (root / folder / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(a).save(root / folder / sub / name)
                images[(folder, sub, name)] = a.astype(np.float32) / 255
    torch.manual_seed(0)
    opts = {"backbone": "tiny_unet", "backbone_options": {"width": 8}, "embed_dim": 8,
            "tasks": ["hazy"], "task_t": {"hazy": 47}, "require_t": True}
    net = DiffusionNet(**opts)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    export = save_exported(net, tmp_path / "net.safetensors", model_name="diffusion",
                           options=opts, tasks=["hazy"])
    setting = (Path(__file__).resolve().parents[2] / "configs" / "diffusion" / "settings"
               / "setting_a_dehaze.yaml")
    out = tmp_path / "eval"
    assert main(["diffusion", "eval", str(export), "--setting", str(setting), "--root",
                 str(root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(generalization)" in printed and "REVIDE" in printed and "RESIDE" in printed
    summary = json.loads((out / "eval_setting_a_dehaze_net_generalization.json").read_text())
    protocol = get_protocol("daclip")
    expected = []
    for name in ("a.png", "b.png"):
        x = torch.from_numpy(images[("REVIDE/Test", "hazy", name)]).permute(2, 0, 1)[None]
        with torch.no_grad():
            y = net.eval()(x, 47).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        expected.append(psnr(y, images[("REVIDE/Test", "gt", name)],
                             **protocol.metric_options()))
    assert abs(summary["per_task"]["REVIDE"]["psnr"] - float(np.mean(expected))) < 1e-6


@pytest.fixture(scope="module")
def finetuned(pretrained, tmp_path_factory):
    """A 3-task fine-tuning run validated by the engine at its end (EMA weights, 32 px)."""
    run = tmp_path_factory.mktemp("ft")
    tmat = {"noise": 4, "dark": 20, "jpeg": 9}
    # generative samples every step (gen_mode: sample): diffused at random steps, they make the
    # time conditioning depend on t within the two steps (with generative batches on 30 % of
    # the steps, two steps may have none)
    out = pipeline.finetune(config(steps=2, gef={**GEF, "gen_mode": "sample"}), run,
                            pretrained=pretrained, tmat=tmat)
    assert out.train.status == "finished" and out.evaluation is not None
    return run, out, tmat


def _psnr_by_hand(out, gt) -> float:   # the mioir protocol: uint8 values, 4-px border crop
    from skimage.metrics import peak_signal_noise_ratio

    u8 = [np.clip(np.round(np.asarray(a, np.float64) * 255), 0, 255).astype(np.uint8)[4:-4, 4:-4]
          for a in (gt, out)]
    return peak_signal_noise_ratio(*u8, data_range=255)


def test_every_evaluation_restores_each_task_at_its_step(finetuned, capsys):
    """The engine's validation, `aioir diffusion eval` (= `aioir eval`) and the report's
    restorations all give each test set's images their task's t_mat: PSNR recomputed here from
    r(x, t_mat[task]) by hand with scikit-image."""
    from aioir.config import load_config
    from aioir.inference.reader import load_network
    from aioir.report.images import restore_run
    from aioir.report.runs import load_run
    from aioir.settings.assemble import validation_sets

    run, out, tmat = finetuned
    net, _ = load_network(out.train.checkpoint, use_ema=True)
    net.eval()
    sets, _ = validation_sets(load_config(RunConfig, run / "config.yaml"))
    assert [ts.task for ts in sets] == TASKS

    def by_hand(lq, t):
        x = torch.from_numpy(np.array(lq, np.float32)).permute(2, 0, 1)[None]
        with torch.no_grad():
            return net(x, t).clamp(0, 1)[0].permute(1, 2, 0).numpy()

    expected, other = {}, {}
    for ts in sets:
        items = list(ts)
        expected[ts.column] = np.mean([_psnr_by_hand(by_hand(lq, tmat[ts.task]), gt)
                                       for lq, gt, _, _ in items])
        wrong = 50 if tmat[ts.task] != 50 else 1   # another step: the check can tell them apart
        other[ts.column] = np.mean([_psnr_by_hand(by_hand(lq, wrong), gt)
                                    for lq, gt, _, _ in items])
    validation = json.loads((run / "eval" / "step_00000002.json").read_text())["per_task"]
    for task in TASKS:
        assert validation[task]["psnr"] == pytest.approx(expected[task], abs=1e-9), task
    # after two steps the steps' outputs differ by ~1e-5 (PSNR by ~1e-4): still told apart
    assert all(abs(expected[t] - other[t]) > 1e-5 for t in TASKS)

    assert main(["diffusion", "eval", str(out.train.checkpoint), "--out", str(run / "cli")]) == 0
    capsys.readouterr()
    cli = json.loads(next((run / "cli").glob("eval_*.json")).read_text())["per_task"]
    assert {t: cli[t]["psnr"] for t in TASKS} == {t: validation[t]["psnr"] for t in TASKS}

    samples = [next(iter(ts)) for ts in sets]
    restored = restore_run(load_run(run), samples)
    for (lq, _, task, _), y in zip(samples, restored):
        assert np.array_equal(y, by_hand(lq, tmat[task])), task


def test_report_on_a_pretraining_run_shows_its_generative_loss(pretrained, tmp_path):
    pytest.importorskip("matplotlib")
    from aioir.report.build import make_report

    result = make_report([pretrained], tmp_path / "r")
    skipped = {f.id: f.skipped for f in result.skipped}
    assert "train_aux" in {f.id for f in result.drawn}
    assert "every logged 'task_loss' is 0" in skipped["train_task_loss"]
    assert "val.enabled: False" in skipped["restorations"]
