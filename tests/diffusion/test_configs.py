"""configs/diffusion: every file loads strictly, carries the paper's recipe (App. G.2), names
settings that exist and builds; the CPU-size embedded configs run through the commands
(pretrain -> match -> finetune, incremental; the plain baseline with `aioir train`); the
paper-size configs build their run and stages on dataset trees in their settings' layouts
(tests/settings/trees.py for daclip10, the Setting A layouts written here) at reduced width."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from aioir import models, settings
from aioir.cli import main
from aioir.config import load_config
from aioir.config.schema import RunConfig
from aioir.diffusion import pipeline
from aioir.diffusion.matching import PAPER_TMAT, paper_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "settings"))
import trees

ROOT = Path(__file__).resolve().parents[2]
DIR = ROOT / "configs" / "diffusion"
RUNS = sorted(DIR.glob("*.yaml"))
PAPER = [p for p in RUNS if not p.name.startswith("embedded_")]
EMBEDDED = [p for p in RUNS if p.name.startswith("embedded_")]


def test_the_papers_two_settings_are_there():
    names = {p.stem for p in RUNS}
    for task in ["dehaze", "derain", "desnow", "lowlight"]:
        assert {f"setting_a_{task}_pretrain", f"setting_a_{task}_finetune"} <= names
    assert {"daclip10_pretrain", "daclip10_incremental"} <= names
    assert {p.stem for p in EMBEDDED} == {"embedded_pretrain", "embedded_finetune",
                                          "embedded_incremental", "embedded_plain"}


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_recipe(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # Setting A configs name their setting by a repository path
    cfg = load_config(RunConfig, path)
    assert cfg.model.name == "diffusion" and cfg.model.options["timesteps"] == 50
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.betas[0]) == ("adam", 5e-5, 0.9)
    assert cfg.schedule.name == "cosine"
    assert (cfg.data.patch_size, cfg.data.batch_size) == (128, 16)
    kind = path.stem.rsplit("_", 1)[1]
    assert cfg.train.steps == {"pretrain": 500_000, "finetune": 300_000,
                               "incremental": 10 * 100_000}[kind]
    setting = settings.get_setting(cfg.data.setting)
    if path.stem.startswith("daclip10"):
        assert cfg.data.setting == "daclip10" and len(setting.task_names) == 10
    else:
        assert len(setting.task_names) == 1 and setting.groups == ["main", "generalization"]
    # where the paper is open, the authors' released code (xin1u/EEDTP train_*.py):
    # Adam betas (0.9, 0.99); the output is the restored image in both phases
    # (`restored = x_t - net(x_t, t)`, `outputs = inputs - net(inputs, t_mat)`): prediction x0;
    # "Ours + NAFNet" is 67.8 M parameters (Tab. 5): NAFNet width 64
    assert tuple(cfg.optim.betas) == (0.9, 0.99)
    assert cfg.model.options["prediction"] == "x0"
    assert cfg.model.options["backbone"] == "nafnet"
    assert cfg.model.options["backbone_options"]["width"] == 64
    if kind != "pretrain":
        gef = cfg.model.options["gef"]
        assert (gef["gen_ratio"], gef["reg_lambda"], gef["decay_rate"]) == (0.1, 0.2, 0.05)
        # EEDTP: generative batches on 10 % of the iterations, L_reg and L_orthog only there,
        # L_reg = lambda sum(w |d| + w^2 d^2 / 2) from fine-tuning batches, 1 - cos, 0.1 x FFT
        assert (gef["gen_mode"], gef["reg_form"], gef["importance_data"], gef["orthog_form"]) \
            == ("iteration", "eedtp", "finetune", "literal")
        assert [(x.name, x.weight) for x in cfg.train.extra_losses] == [("fft", 0.1)]
    if kind == "incremental":
        assert cfg.model.options["moe_experts"] == 10
        assert cfg.model.options["moe_blocks"] == ["decoders.*"]   # each NAFNet decoder level


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.stem)
def test_the_network_builds_at_reduced_size(path):
    cfg = load_config(RunConfig, path)
    options = dict(cfg.model.options)
    if cfg.model.name == "diffusion":
        options["backbone_options"] = models.reduced_options(options["backbone"])
        options.pop("gef", None)
    else:
        options = models.reduced_options(cfg.model.name)
    assert models.build(cfg.model.name, **options) is not None


# ---------------------------------------------------------------------------- paper size
#: file names of one pair under each Setting A ``match`` rule
PAIR_NAMES = {"name": ("1.png", "1.png"), "stem": ("1.jpg", "1.png"),
              ("rain-(\\d+)", "norain-\\1"): ("rain-1.png", "norain-1.png"),
              ("low(\\d+)", "normal\\1"): ("low00001.png", "normal00001.png")}


def write_tree(setting, root: Path) -> None:
    """One pair per source of ``setting`` in its own layout (daclip10: tests/settings/trees)."""
    if setting.name in trees.BUILDERS:
        trees.BUILDERS[setting.name](root)
        return
    for k, spec in enumerate([*setting.train, *setting.test]):
        lq, gt = PAIR_NAMES[spec.match]
        trees.pair(root / str(spec.lq) / lq, root / str(spec.gt) / gt, k, (24, 24))


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_config_builds_its_run_and_stages(path, tmp_path, monkeypatch):
    from aioir.engine.build import build_run

    monkeypatch.chdir(ROOT)
    cfg = load_config(RunConfig, path, [
        f"data.root={tmp_path / 'data'}", "data.patch_size=16", "data.num_workers=0",
        "train.device=cpu",
        f"model.options.backbone_options={json.dumps(models.reduced_options('nafnet'))}"])
    setting = settings.get_setting(cfg.data.setting)
    write_tree(setting, tmp_path / "data")
    kind = path.stem.rsplit("_", 1)[1]
    if kind == "pretrain":
        cfg = pipeline.pretrain_config(cfg)
    else:   # the paper's t_mat of every task (its own network would be matched first)
        cfg = pipeline.prepare_finetune(cfg, tmp_path / "run", pretrained=None, tmat="paper")
    if kind == "incremental":
        cfg = pipeline.incremental_config(cfg)
    parts = build_run(cfg, device="cpu")
    tasks = list(setting.task_names)
    if kind == "pretrain":
        assert [(s.start, s.end, s.recon_weight) for s in parts.stages] == [(0, 500_000, 0.0)]
    elif kind == "finetune":
        assert len(parts.stages) == 1 and parts.stages[0].recon_weight == 1.0
        assert parts.model.test_t == PAPER_TMAT[paper_name(tasks[0])]
    else:   # one stage of 100K steps per task, in increasing t_mat, with replay
        order = sorted(tasks, key=lambda t: PAPER_TMAT[paper_name(t)])
        assert [paper_name(t) for t in order] == list(PAPER_TMAT)
        assert [s.tasks for s in parts.stages] == [tuple(order[:i + 1]) for i in range(10)]
        assert [s.end - s.start for s in parts.stages] == [100_000] * 10
        assert [s.fresh_optimizer for s in parts.stages] == [False] + [True] * 9
        assert parts.model.require_t and len(parts.model.moe) == 2
    sample = parts.train_data[0]
    assert tuple(sample["lq"].shape) == (3, 16, 16) and tasks[int(sample["task_id"])] in tasks


# ---------------------------------------------------------------------------- CPU size
CPU = ["--set", "data.patch_size=16", "--set", "train.threads=1", "--set",
       "train.progress=false", "--set", "val.max_size=32"]


def test_embedded_configs_run_through_the_commands(tmp_path, capsys):
    """pretrain -> match -> finetune and incremental from its table, every config as shipped
    (budgets shortened with --steps, 16 px patches, 32 px validation)."""
    pre, ft, inc, plain = (tmp_path / n for n in ("pre", "ft", "inc", "plain"))
    assert main(["diffusion", "pretrain", str(DIR / "embedded_pretrain.yaml"), "--out", str(pre),
                 "--steps", "2", "--importance-batches", "1", "--samples", "0", *CPU]) == 0
    assert main(["diffusion", "match", str(pre), "--pairs", "1", "--size", "16"]) == 0
    table = json.loads((pre / "match" / "t_mat.json").read_text())["t_mat"]
    tasks = load_config(RunConfig, DIR / "embedded_pretrain.yaml").data.tasks
    assert list(table) == tasks

    one = ["--set", "model.options.gef.importance_batches=1"]   # the prior of fine-tuning data
    assert main(["diffusion", "finetune", str(DIR / "embedded_finetune.yaml"), "--out", str(ft),
                 "--pretrained", str(pre), "--tmat", str(pre / "match"), "--steps", "2",
                 *CPU, *one]) == 0
    assert main(["diffusion", "incremental", str(DIR / "embedded_incremental.yaml"), "--out",
                 str(inc), "--pretrained", str(pre), "--tmat", str(pre / "match"), "--steps",
                 "7", *CPU, *one]) == 0
    assert main(["train", str(DIR / "embedded_plain.yaml"), "--out", str(plain), "--steps", "2",
                 *CPU]) == 0
    capsys.readouterr()
    for run, steps in ((ft, 2), (inc, 7), (plain, 2)):
        evaluation = json.loads((run / "eval" / f"step_{steps:08d}.json").read_text())
        assert list(evaluation["per_task"]) == tasks, run
    records = [json.loads(line) for line in (inc / "metrics.jsonl").read_text().splitlines()]
    logged = [set(r["task_loss"]) for r in records if "task_loss" in r]
    order = sorted(tasks, key=lambda t: (table[t], tasks.index(t)))
    assert len(logged) == 7
    for i, seen in enumerate(logged):   # stage i trains on the first i + 1 tasks in t_mat order
        assert seen <= set(order[:i + 1])
    ft_gef = load_config(RunConfig, ft / "config.yaml").model.options["gef"]
    assert ft_gef["prior"] == str(ft / "prior.safetensors")
