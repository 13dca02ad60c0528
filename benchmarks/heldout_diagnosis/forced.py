"""Issue 27 diagnosis: an image's PSNR when a demo network is made to take one route.

The demo trains its heads with the true task's gate, so any routing rule can be scored by
looking up each image's PSNR under each forced route (``route == num_tasks``: the identity),
computed once and kept in a JSON cache (keys ``TASK|INDEX|ROUTE``). Used by ``routes.py`` and
``lattice_routes.py``.
"""

import json
from pathlib import Path
from typing import Any

import torch

from aioir.engine.evaluation import evaluate, summary
from aioir.models.restore import restore_image


class ForcedRoutes:
    """``score(test_set, index, route)``: PSNR of image ``index`` of ``test_set`` restored by
    head ``route`` of ``model`` (the network's classifier replaced by that choice)."""

    def __init__(self, model: Any, protocol: Any, num_tasks: int, cache_path: Path) -> None:
        self.model, self.protocol, self.num_tasks = model, protocol, num_tasks
        self.cache_path = Path(cache_path)
        self.cache = json.loads(self.cache_path.read_text()) if self.cache_path.exists() else {}

    def score(self, s: Any, idx: int, route: int) -> float:
        key = f"{s.task}|{idx}|{route}"
        if key not in self.cache:
            model = self.model

            def forced(x, xp, st, detach=False):
                out = torch.full((x.shape[0], model.num_classes), -1e4)
                out[:, route] = 0.0
                return out

            model._class_logits = forced

            class One:  # a one-image view of the set
                task, column, group = (s.task, getattr(s, "column", s.task),
                                       getattr(s, "group", None))

                def __iter__(self):
                    yield from (item for j, item in enumerate(s) if j == idx)

                def __len__(self):
                    return 1

            identity = route == self.num_tasks
            restore = (lambda img: img) if identity else (lambda img: restore_image(model, img))
            r = summary(evaluate(restore, [One()], self.protocol))
            self.cache[key] = r["records"][0]["psnr"]
            self.cache_path.write_text(json.dumps(self.cache))
        return self.cache[key]
