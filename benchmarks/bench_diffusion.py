"""Plain fine-tuning vs the diffusion training paradigm on the embedded photos, 7 MiOIR tasks.

Both arms train the same backbone (tiny_unet width 16 with its tone head), on the same data, for
the same number of optimizer steps, with the same seeds, through the one engine:

* ``plain``: ``configs/diffusion/embedded_plain.yaml`` (mixed L1, random initialisation);
* ``paradigm``: ``configs/diffusion/embedded_finetune.yaml``: the network pre-trained
  generatively (counted separately: ``--pretrain-steps`` steps, done once and shared by the
  seeds), each task conditioned on its ``t_mat`` (from ``aioir diffusion match``), GEF (about
  10 % extra generative samples on the shallow layers, L_reg, L_orthog);
* optional ``--variants``: ``tmat_only`` (pre-trained + t_mat conditioning, no GEF terms);
* optional ``--arm NAME|PRETRAINED|TMAT|OVERRIDE,...``: another paradigm arm from another
  pre-training run (e.g. ``prediction: x0``), with its own overrides.

Both are evaluated by the engine's validation at the end of training (the one evaluation,
:func:`aioir.engine.evaluation.evaluate`: EMA weights, every task at its own step where the
network has one, through its ``task_context`` hook) on the held-out embedded photos; the
degraded-input row is the same function on the identity.

    python benchmarks/bench_diffusion.py --out runs/bench_diffusion --pretrain-steps 1500 \\
        --steps 600 --seeds 0,1 --append-md docs/benchmarks.md

Invocations may run side by side (other seeds, other arms): ``--skip-arms plain,paradigm``
leaves arms out of one (an invocation of ``plain`` and ``--arm`` arms alone neither pre-trains
nor matches: it can run beside the pre-training), and ``--merge A/bench.json,B/bench.json``
prints the section of several
(each arm's mean over its own seeds; differences against plain on the seeds both have).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load(path: Path, overrides: list[str]):
    from aioir.config import load_config
    from aioir.config.schema import RunConfig

    return load_config(RunConfig, path, overrides)


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load unknown"


def last_validation(run_dir: Path) -> dict:
    """The run's last ``eval/step_*.json`` (a finished run resumed with ``auto`` trains no
    step and returns no validation)."""
    files = sorted((run_dir / "eval").glob("step_*.json"))
    if not files:
        raise SystemExit(f"{run_dir} has no validation (eval/step_*.json)")
    return json.loads(files[-1].read_text())


def input_row(cfg) -> dict:
    """PSNR/SSIM of the degraded validation images themselves (the identity restored)."""
    from aioir.engine.evaluation import evaluate, summary
    from aioir.settings.assemble import resolve_setting, val_protocol, validation_sets

    setting = resolve_setting(cfg)
    sets, _ = validation_sets(cfg, setting)
    return summary(evaluate(lambda img: img, sets, val_protocol(cfg, setting)))


def main() -> None:
    from aioir.diffusion import pipeline
    from aioir.engine.run import train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bench_diffusion")
    p.add_argument("--pretrained", default=None, help="reuse a pre-training run folder")
    p.add_argument("--tmat", default=None, help="reuse a t_mat table (t_mat.json or folder)")
    p.add_argument("--pretrain-steps", type=int, default=1500)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--variants", default="", help="extra arms, comma-separated: tmat_only")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="override for every arm (e.g. model.options.prediction=x0 is not "
                        "valid for the plain arm; use --paradigm-set)")
    p.add_argument("--paradigm-set", action="append", default=[],
                   help="override for the paradigm arms and the pre-training")
    p.add_argument("--arm", action="append", default=[],
                   help="extra paradigm arm NAME|PRETRAINED|TMAT|OVERRIDE,OVERRIDE")
    p.add_argument("--skip-arms", default="", help="arms to leave out (e.g. plain,paradigm)")
    p.add_argument("--merge", default=None,
                   help="comma-separated bench.json files: print their merged section, no runs")
    p.add_argument("--append-md", default=None)
    a = p.parse_args()
    if a.merge:
        report = merge([json.loads(Path(f).read_text()) for f in a.merge.split(",")])
        md = markdown(report)
        print(md)
        if a.append_md:
            with open(a.append_md, "a", encoding="utf-8") as fh:
                fh.write("\n" + md)
        return
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    load_before = uptime()
    t_start = time.perf_counter()
    common = [*a.overrides, "train.threads=1", "train.progress=false"]
    cfg_dir = ROOT / "configs" / "diffusion"

    tasks = load(cfg_dir / "embedded_pretrain.yaml", []).data.tasks
    skip = {x for x in a.skip_arms.split(",") if x}
    own = [arm for arm in ["paradigm"] + [v for v in a.variants.split(",") if v]
           if arm not in skip]
    pre_seconds = None
    pre_dir: Path | None = None
    tmat: dict[str, int] = {}
    if own:  # the arms on this invocation's own pre-trained network and t_mat
        if a.pretrained:
            pre_dir = Path(a.pretrained)
        else:
            pre_dir = out / "pretrain"
            cfg = load(cfg_dir / "embedded_pretrain.yaml",
                       common + a.paradigm_set + [f"train.steps={a.pretrain_steps}"])
            t0 = time.perf_counter()
            res = pipeline.pretrain(cfg, pre_dir, resume="auto")
            pre_seconds = time.perf_counter() - t0
            assert res.train.status == "finished"
        if a.tmat:
            tmat_path = Path(a.tmat)
        else:
            tmat_path = out / "match"
            rows = pipeline.match(pre_dir, load(cfg_dir / "embedded_pretrain.yaml", common),
                                  pairs=8, patch_size=64, criterion="x0")
            pipeline.write_match_table(rows, tmat_path, meta={"criterion": "x0", "pairs": 8})
        tmat = pipeline.load_tmat(tmat_path, tasks)

    arms = ["plain"] + own
    specs = {"paradigm": (pre_dir, tmat, list(a.paradigm_set)),
             "tmat_only": (pre_dir, tmat, list(a.paradigm_set) + ["model.options.gef=null"])}
    for arm in a.arm:
        name, pre, tm, *rest = arm.split("|")
        specs[name] = (Path(pre), pipeline.load_tmat(tm, tasks),
                       [o for o in (rest[0].split(",") if rest else []) if o])
        arms.append(name)
    arms = [arm for arm in arms if arm not in skip]
    results: dict[str, dict[int, dict]] = {arm: {} for arm in arms}
    seconds: dict[str, list[float]] = {arm: [] for arm in arms}
    for seed in [int(s) for s in a.seeds.split(",")]:
        for arm in arms:
            run_dir = out / f"{arm}_seed{seed}"
            steps = [f"train.steps={a.steps}", f"train.seed={seed}"]
            if arm == "plain":
                cfg = load(cfg_dir / "embedded_plain.yaml", common + steps)
                t0 = time.perf_counter()
                res = train(cfg, run_dir, resume="auto")
                seconds[arm].append(time.perf_counter() - t0)
                summary = res.validation or last_validation(run_dir)
            else:
                arm_pre, arm_tmat, extra = specs[arm]
                cfg = load(cfg_dir / "embedded_finetune.yaml", common + steps + extra)
                t0 = time.perf_counter()
                fin = pipeline.finetune(cfg, run_dir, pretrained=arm_pre, tmat=arm_tmat,
                                        resume="auto")
                seconds[arm].append(time.perf_counter() - t0)
                summary = fin.evaluation or last_validation(run_dir)
            results[arm][seed] = summary
            print(arm, seed, {k: round(v["psnr"], 2) for k, v in summary["per_task"].items()},
                  round(summary["average"]["psnr"], 2), flush=True)
    ref = load(cfg_dir / "embedded_plain.yaml", common)
    report = {"arms": arms, "results": results, "seconds": seconds, "input": input_row(ref),
              "tmat": {arm: specs[arm][1] for arm in arms if arm in specs},
              "pretrain_steps": {arm: load(Path(specs[arm][0]) / "config.yaml", []).train.steps
                                 for arm in arms if arm in specs},
              "batch": ref.data.batch_size, "patch": ref.data.patch_size,
              "pretrain_seconds": pre_seconds, "pretrain": str(pre_dir) if pre_dir else None,
              "steps": a.steps, "seeds": a.seeds, "load_before": load_before,
              "load_after": uptime(), "total_seconds": time.perf_counter() - t_start,
              "command": "python benchmarks/bench_diffusion.py "
              + " ".join(shlex.quote(x) for x in sys.argv[1:])}
    (out / "bench.json").write_text(json.dumps(report, indent=2))
    if "plain" not in arms:
        print(f"{out / 'bench.json'} written; print the section with --merge (it needs plain)")
        return
    md = markdown(report)
    print(md)
    if a.append_md:
        with open(a.append_md, "a", encoding="utf-8") as fh:
            fh.write("\n" + md)


def merge(reports: list[dict]) -> dict:
    """Several invocations' reports as one: arms in order of appearance, results per seed,
    wall times, t_mat tables and pre-training budgets pooled; load and command lists kept."""
    out = {"arms": [], "results": {}, "seconds": {}, "tmat": {}, "pretrain_steps": {},
           "input": None, "pretrain_seconds": None, "loads": [], "commands": []}
    for r in reports:
        for arm in r["arms"]:
            if arm not in out["arms"]:
                out["arms"].append(arm)
            out["results"].setdefault(arm, {}).update(r["results"][arm])
            out["seconds"].setdefault(arm, []).extend(r["seconds"][arm])
        out["tmat"].update(r["tmat"])
        out["pretrain_steps"].update(r["pretrain_steps"])
        out["input"] = out["input"] or r.get("input")
        out["loads"].append((r["load_before"], r["load_after"]))
        out["commands"].append(r.get("command", ""))
        for key in ("batch", "patch", "steps", "pretrain"):
            out[key] = r[key]
    seeds = sorted({int(s) for arm in out["results"] for s in out["results"][arm]})
    out["seeds"] = ",".join(str(s) for s in seeds)
    out["load_before"], out["load_after"] = out["loads"][0][0], out["loads"][-1][1]
    return out


def markdown(r: dict) -> str:
    """The bench's section for docs/benchmarks.md (each arm's mean over its own seeds)."""
    arms = r["arms"]
    runs = {arm: {int(s): v for s, v in r["results"][arm].items()} for arm in arms}
    plain_seeds = sorted(runs["plain"])
    first = runs["plain"][plain_seeds[0]]
    tasks = list(first["per_task"])
    inp_row = r.get("input") or {}

    def mean_psnr(arm: str, task: str | None, seeds: list[int] | None = None) -> float:
        vals = [(runs[arm][s]["average"] if task is None else
                 runs[arm][s]["per_task"][task])["psnr"] for s in (seeds or sorted(runs[arm]))]
        return statistics.mean(vals)

    def mean_ssim(arm: str, task: str | None) -> float:
        vals = [(runs[arm][s]["average"] if task is None else
                 runs[arm][s]["per_task"][task])["ssim"] for s in sorted(runs[arm])]
        return statistics.mean(vals)

    def label(arm: str) -> str:
        own = sorted(runs[arm])
        return arm if own == plain_seeds else f"{arm} (seed{'s' if len(own) > 1 else ''} " \
            f"{', '.join(map(str, own))})"

    head = "| arm | " + " | ".join(tasks) + " | Average |\n|:--|" + "--:|" * (len(tasks) + 1)
    lines = [head]
    inp = inp_row.get("per_task")
    if inp:
        cells = [f"{inp[t]['psnr']:.2f}/{inp[t]['ssim']:.3f}" for t in tasks]
        avg = inp_row["average"]
        lines.append(f"| degraded input | {' | '.join(cells)} | "
                     f"{avg['psnr']:.2f}/{avg['ssim']:.3f} |")
    for arm in arms:
        cells = [f"{mean_psnr(arm, t):.2f}/{mean_ssim(arm, t):.3f}" for t in tasks]
        lines.append(f"| {label(arm)} | {' | '.join(cells)} | "
                     f"{mean_psnr(arm, None):.2f}/{mean_ssim(arm, None):.3f} |")
    for arm in arms:
        if arm == "plain":
            continue
        both = [s for s in sorted(runs[arm]) if s in runs["plain"]]
        cells = [f"{mean_psnr(arm, t, both) - mean_psnr('plain', t, both):+.2f}" for t in tasks]
        diffs = [runs[arm][s]["average"]["psnr"] - runs["plain"][s]["average"]["psnr"]
                 for s in both]
        spread = f" (per seed {', '.join(f'{d:+.2f}' for d in diffs)})" if len(both) > 1 else ""
        lines.append(f"| {label(arm)} - plain (dB) | {' | '.join(cells)} | "
                     f"{statistics.mean(diffs):+.2f}{spread} |")
    times = ", ".join(f"{arm} {statistics.mean(r['seconds'][arm]):.0f} s" for arm in arms
                      if r["seconds"].get(arm))
    pre = "; ".join(f"{arm}: {n} steps" for arm, n in r["pretrain_steps"].items())
    if r["pretrain_seconds"] is not None:
        pre += f" ({r['pretrain_seconds']:.0f} s)"
    tm = "; ".join(f"{arm}: " + ", ".join(f"{k} {v}" for k, v in sorted(
        table.items(), key=lambda kv: kv[1])) for arm, table in r["tmat"].items())
    return "\n".join([
        "## Diffusion paradigm vs plain fine-tuning (embedded photos, 7 MiOIR tasks, CPU)",
        "",
        f"tiny_unet width 16 (tone head), {r['steps']} steps of {r['batch']} x {r['patch']} px "
        "patches, Adam 1e-3 "
        f"cosine, EMA 0.99, seeds {r['seeds']}; PSNR/SSIM (mean over seeds) on the held-out "
        "embedded photos (MiOIR protocol), every task at its t_mat for the paradigm. The "
        f"paradigm's generative pre-training is not in these step counts ({pre}). t_mat used: "
        f"{tm}. Wall time per run: {times} (1 thread each).",
        "",
        *lines,
        "",
        f"Load: before `{r['load_before']}`; after `{r['load_after']}`.",
        "",
        "Command: `python benchmarks/bench_diffusion.py "
        + " ".join(shlex.quote(x) for x in sys.argv[1:]) + "`",
        *[f"(merged from `{c}`)" for c in r.get("commands", []) if c],
        "",
    ])


if __name__ == "__main__":
    main()
