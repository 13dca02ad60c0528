"""``degradation_stats`` on 25 fixed inputs, saved for a bitwise comparison across commits
(issue 26: was e0abdfd, "same operations, same values", really value-preserving?).

The inputs: 4 seeded random batches (64 x 64, 67 x 93, 9 x 9, 192 x 130) and the 21 held-out
photographs as the demo degrades them whole (7 tasks x 3, seed 7, at most 256 px). Usage::

    git worktree add /tmp/parent <commit>
    PYTHONPATH=/tmp/parent/src python benchmarks/diagnosis/degradation_stats_probe.py /tmp/a.pt
    PYTHONPATH=src python benchmarks/diagnosis/degradation_stats_probe.py /tmp/b.pt
    python benchmarks/diagnosis/degradation_stats_probe.py --compare /tmp/a.pt /tmp/b.pt
"""

from __future__ import annotations

import sys

import torch


def inputs() -> list[torch.Tensor]:
    from aioir.config.schema import MIOIR_TASKS
    from aioir.data.sources import EmbeddedPhotos
    from aioir.data.testsets import SyntheticTestSet

    g = torch.Generator().manual_seed(0)
    xs = [torch.rand(3, 3, h, w, generator=g) for h, w in ((64, 64), (67, 93), (9, 9), (192, 130))]
    for t, task in enumerate(MIOIR_TASKS):
        for lq, _, _, _ in SyntheticTestSet(EmbeddedPhotos("test"), task, seed=7, key="index",
                                            task_index=t, max_size=256, multiple=1):
            x = torch.as_tensor(lq).float()
            xs.append(x.permute(2, 0, 1)[None] if x.shape[-1] == 3 else x[None])
    return xs


def main(argv: list[str]) -> None:
    if argv[:1] == ["--compare"]:
        a, b = (torch.load(p) for p in argv[1:3])
        same = len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))
        print(f"{len(a)} inputs, bit-identical: {same}")
        sys.exit(0 if same else 1)
    torch.set_num_threads(1)
    from aioir.models.degradation_stats import degradation_stats

    torch.save([degradation_stats(x) for x in inputs()], argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])
