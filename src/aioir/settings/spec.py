"""What a benchmark setting is: its tasks, where its files lie, and how it is evaluated.

A setting is read from ``configs/settings/<name>.yaml`` (see ``docs/datasets.md``). Every path
in it is relative to the dataset root given at run time (``--root`` / ``data.root``). Each
training or test entry is a :class:`SourceSpec` of one of three kinds:

* ``synthetic``: clean images under ``clean`` degraded on the fly with the
  :mod:`aioir.degradations` task ``degrade`` (BSD400+WED noise, DF2K for MiOIR);
* ``paired``: LQ images under ``lq`` matched to GT images under ``gt`` by ``match``
  (``name``, ``stem`` or ``[pattern, replacement]``, see :mod:`aioir.data.paired`); with
  ``scenes``, every sub-folder of ``scenes`` holds its own ``lq``/``gt`` pair of folders
  (GoPro: ``train/<scene>/{blur,sharp}``), so equal file names in different scenes never clash;
* ``list``: a text file of LQ paths relative to ``base`` (TransWeather's ``allweather.txt``),
  the GT path being the LQ path with the folder ``replace[0]`` renamed ``replace[1]``;
  ``include``/``exclude`` regular expressions (searched in the line) pick one task's lines.

>>> spec = SourceSpec.from_dict({"task": "derain", "kind": "paired", "lq": "rainy", "gt": "gt",
...                              "match": ["rain-(\\\\d+)", "norain-\\\\1"], "repeat": 120})
>>> spec.match, spec.repeat, spec.column
(('rain-(\\\\d+)', 'norain-\\\\1'), 120, 'derain')
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

KINDS = ("synthetic", "paired", "list")


def _fail(where: str, msg: str) -> ValueError:
    return ValueError(f"{where}: {msg}")


@dataclass(frozen=True)
class SourceSpec:
    """One training source of a task, or one test set (then ``column`` names its table column).

    ``repeat``: the official loaders' list-repetition factor, used with ``balance: concat``.
    ``seed``: the noise seed of a synthetic test set. ``group``: test sets of the same group
    make one table (``main``: the paper's table; e.g. ``ood`` for MiOIR's out-of-distribution
    sets). ``optional``: a missing optional test set is skipped with a note, not an error.
    """

    task: str
    kind: str
    lq: str | None = None
    gt: str | None = None
    clean: str | None = None
    degrade: str | None = None
    match: Any = "name"
    scenes: str | None = None
    list: str | None = None
    base: str = "."
    replace: tuple[str, str] | None = None
    include: str | None = None
    exclude: str | None = None
    allow_unused_gt: bool = False
    repeat: int = 1
    seed: int = 0
    column: str = ""
    group: str = "main"
    optional: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "source") -> "SourceSpec":
        """Validate a YAML mapping (unknown keys and missing paths are errors)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise _fail(where, f"unknown keys {unknown}; known: {sorted(known)}")
        if "task" not in data or "kind" not in data:
            raise _fail(where, "needs 'task' and 'kind'")
        values = dict(data)
        if isinstance(values.get("match"), list):
            values["match"] = tuple(values["match"])
        if isinstance(values.get("replace"), list):
            values["replace"] = tuple(values["replace"])
        spec = cls(**values)
        if not spec.column:
            spec = replace(spec, column=spec.task)
        spec.validate(where)
        return spec

    def validate(self, where: str) -> None:
        """Raise ``ValueError`` naming ``where`` when the fields of ``kind`` are missing."""
        if self.kind not in KINDS:
            raise _fail(where, f"kind {self.kind!r} is not one of {KINDS}")
        need = {"synthetic": ("clean", "degrade"), "paired": ("lq", "gt"),
                "list": ("list", "replace")}[self.kind]
        missing = [k for k in need if not getattr(self, k)]
        if missing:
            raise _fail(where, f"kind {self.kind!r} needs {missing}")
        if isinstance(self.match, tuple) and len(self.match) != 2:
            raise _fail(where, "match must be 'name', 'stem' or [pattern, replacement]")
        if self.repeat < 1:
            raise _fail(where, f"repeat must be >= 1, got {self.repeat}")

    def paths(self) -> list[str]:
        """The folders/files this source reads, relative to the root (for messages)."""
        if self.kind == "synthetic":
            return [str(self.clean)]
        if self.kind == "list":
            return [str(Path(self.base) / str(self.list))]
        if self.scenes:
            return [f"{self.scenes}/<scene>/{self.lq}", f"{self.scenes}/<scene>/{self.gt}"]
        return [str(self.lq), str(self.gt)]


@dataclass(frozen=True)
class Setting:
    """A benchmark setting: task names (ids are positions), training sources, test sets and
    the evaluation protocol (a preset name or a mapping of :class:`aioir.metrics.Protocol`
    fields). ``crop_multiple``: test images are centre-cropped to a multiple of it (PromptIR's
    ``crop_img(base=16)``); 1 keeps them whole."""

    name: str
    task_names: tuple[str, ...]
    train: tuple[SourceSpec, ...]
    test: tuple[SourceSpec, ...]
    protocol_spec: Any = "mioir"
    crop_multiple: int = 1
    description: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def protocol(self):  # -> aioir.metrics.Protocol
        """The evaluation protocol (:class:`aioir.metrics.Protocol`)."""
        from aioir.metrics import Protocol, get_protocol

        if isinstance(self.protocol_spec, Mapping):
            return Protocol(**dict(self.protocol_spec))
        return get_protocol(self.protocol_spec)

    @property
    def groups(self) -> list[str]:
        """Test groups in order of first appearance (``main`` first when present)."""
        out: list[str] = []
        for spec in self.test:
            if spec.group not in out:
                out.append(spec.group)
        return sorted(out, key=lambda g: g != "main")

    def columns(self, group: str = "main") -> list[str]:
        """Table columns (test-set names) of ``group``, in file order."""
        return [s.column for s in self.test if s.group == group]

    def train_sources(self, root: str | Path) -> list:
        """:class:`aioir.settings.sources.Collection` of every training source under ``root``."""
        from aioir.settings.sources import collect

        return [collect(spec, root) for spec in self.train]

    def test_sets(self, root: str | Path, group: str | None = None) -> list:
        """``[(column, iterable of (lq HWC, gt HWC, column, name))]`` of the test sets present
        under ``root`` (``group`` None: all groups). A missing required set raises
        ``FileNotFoundError`` naming the expected folder; missing optional sets are left out."""
        from aioir.settings.testsets import build_test_sets

        return build_test_sets(self, root, group)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "setting") -> "Setting":
        """Build and validate a setting from its YAML mapping."""
        known = {"name", "tasks", "train", "test", "protocol", "crop_multiple", "description",
                 "notes"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise _fail(where, f"unknown keys {unknown}; known: {sorted(known)}")
        tasks = tuple(data.get("tasks") or ())
        if not tasks or len(set(tasks)) != len(tasks):
            raise _fail(where, f"'tasks' must be a non-empty list of distinct names, got {tasks}")
        train = tuple(SourceSpec.from_dict(d, f"{where}.train.{i}")
                      for i, d in enumerate(data.get("train") or ()))
        test = tuple(SourceSpec.from_dict(d, f"{where}.test.{i}")
                     for i, d in enumerate(data.get("test") or ()))
        for i, spec in enumerate(train):
            if spec.task not in tasks:
                raise _fail(f"{where}.train.{i}", f"task {spec.task!r} is not in tasks {tasks}")
        missing = [t for t in tasks if t not in {s.task for s in train}]
        if missing:
            raise _fail(where, f"tasks without a training source: {missing}")
        columns = [(s.group, s.column) for s in test]
        if len(set(columns)) != len(columns):
            raise _fail(where, "two test sets share a column name in one group")
        return cls(
            name=str(data.get("name") or ""),
            task_names=tasks,
            train=train,
            test=test,
            protocol_spec=data.get("protocol", "mioir"),
            crop_multiple=int(data.get("crop_multiple", 1)),
            description=str(data.get("description", "")).strip(),
            notes=tuple(data.get("notes") or ()),
        )
