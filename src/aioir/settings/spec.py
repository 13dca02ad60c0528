"""What a setting is: its tasks, where its files lie, and how it is evaluated.

A setting is read from a YAML file (the presets ship inside the package, see
``docs/datasets.md``). Every path in it is relative to the dataset root given at run time
(``--root`` / ``data.root``). Each training or test entry is a :class:`SourceSpec` of one of
three kinds:

* ``synthetic``: clean images under ``clean`` degraded on the fly with the
  :mod:`aioir.degradations` task ``degrade`` (default: the entry's task); ``clean`` may also be
  ``embedded:train`` / ``embedded:test`` / ``embedded:all``, the photographs shipped inside
  scikit-image (:class:`aioir.data.sources.EmbeddedPhotos`), which need no root. ``depth``
  names a folder of depth maps matched to the clean images by relative name (haze);
* ``paired``: LQ images under ``lq`` matched to GT images under ``gt`` by ``match``
  (``name``, ``stem`` or ``[pattern, replacement]``, see :mod:`aioir.data.paired`); with
  ``scenes``, every sub-folder of ``scenes`` holds its own ``lq``/``gt`` pair of folders
  (GoPro: ``train/<scene>/{blur,sharp}``), so equal file names in different scenes never clash;
* ``list``: a text file of LQ paths relative to ``base`` (TransWeather's ``allweather.txt``),
  the GT path being the LQ path with the folder ``replace[0]`` renamed ``replace[1]``;
  ``include``/``exclude`` regular expressions (searched in the line) pick one task's lines.

A setting with ``any_tasks: true`` (the built-in ``embedded`` and ``folder``) is a template:
its ``tasks`` are a default, a run may choose any catalogue tasks (``data.tasks``), and every
entry whose task is ``"*"`` stands for one entry per chosen task (:meth:`Setting.for_tasks`).

This module only describes; :mod:`aioir.settings.sources` finds the files and
:mod:`aioir.settings.assemble` turns a setting into datasets.

>>> spec = SourceSpec.from_dict({"task": "derain", "kind": "paired", "lq": "rainy", "gt": "gt",
...                              "match": ["rain-(\\\\d+)", "norain-\\\\1"], "repeat": 120})
>>> spec.match, spec.repeat, spec.column
(('rain-(\\\\d+)', 'norain-\\\\1'), 120, 'derain')
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from aioir.config.errors import suggest
from aioir.metrics import Protocol, get_protocol

KINDS = ("synthetic", "paired", "list")
#: the task of a template entry: one entry per task of the run (settings with ``any_tasks``)
ANY_TASK = "*"
#: the ``clean`` prefix naming the embedded photographs instead of a folder
EMBEDDED = "embedded:"


def _fail(where: str, msg: str) -> ValueError:
    return ValueError(f"{where}: {msg}")


@dataclass(frozen=True)
class SourceSpec:
    """One training source of a task, or one test set (then ``column`` names its table column).

    ``repeat``: the official loaders' list-repetition factor, used with ``balance: concat``.
    ``group``: test sets of the same group make one table (``main``: the paper's table; e.g.
    ``ood`` for MiOIR's out-of-distribution sets). ``optional``: a missing optional test set is
    skipped with a note, not an error. Synthetic test sets only: ``seed`` and ``dist`` (``in``
    or ``out`` parameter ranges) of the degradation, and ``key``, how each image's generator is
    keyed: ``name`` (``aioir.data.sampling.name_rng(seed, relative name)``: adding a file
    changes no other image) or ``index`` (``default_rng([seed, task index, image index])``, the
    embedded test set's rule, kept so its published numbers stay reproducible).
    ``crop_multiple``: a test set's own crop multiple (``None``: the setting's; ``1`` keeps
    its images whole, e.g. the ``embedded`` setting's ``whole`` group).
    """

    task: str
    kind: str
    lq: str | None = None
    gt: str | None = None
    clean: str | None = None
    degrade: str | None = None
    depth: str | None = None
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
    dist: str = "in"
    key: str = "name"
    column: str = ""
    group: str = "main"
    optional: bool = False
    crop_multiple: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "source") -> SourceSpec:
        """Validate a YAML mapping (unknown keys and missing paths are errors)."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            hint = suggest(unknown[0], known)
            raise _fail(where, f"unknown keys {unknown}{hint} Known: {sorted(known)}")
        if "task" not in data or "kind" not in data:
            raise _fail(where, "needs 'task' and 'kind'")
        values = dict(data)
        if isinstance(values.get("match"), list):
            values["match"] = tuple(values["match"])
        if isinstance(values.get("replace"), list):
            values["replace"] = tuple(values["replace"])
        spec = cls(**values)
        if spec.kind == "synthetic" and not spec.degrade and spec.task != ANY_TASK:
            spec = replace(spec, degrade=spec.task)
        if not spec.column and spec.task != ANY_TASK:
            spec = replace(spec, column=spec.task)
        spec.validate(where)
        return spec

    def validate(self, where: str) -> None:
        """Raise ``ValueError`` naming ``where`` when the fields of ``kind`` are missing."""
        if self.kind not in KINDS:
            raise _fail(where, f"kind {self.kind!r} is not one of {KINDS}")
        need = {"synthetic": ("clean",), "paired": ("lq", "gt"), "list": ("list", "replace")}
        missing = [k for k in need[self.kind] if not getattr(self, k)]
        if missing:
            raise _fail(where, f"kind {self.kind!r} needs {missing}")
        if self.kind == "synthetic" and self.task != ANY_TASK:
            # local: aioir.degradations adds 0.6-1.5 s of imports (scipy.ndimage) to this module,
            # which only describes (measured: `python -X importtime` and the median of 3 fresh
            # processes, 2 shared cores under load); only a synthetic source needs it
            from aioir.degradations import get_task

            try:
                get_task(str(self.degrade))
            except ValueError as exc:
                raise _fail(where, f"degrade: {exc}") from None
        if self.kind != "synthetic" and self.depth:
            raise _fail(where, "depth only applies to synthetic sources")
        if isinstance(self.match, tuple) and len(self.match) != 2:
            raise _fail(where, "match must be 'name', 'stem' or [pattern, replacement]")
        if self.repeat < 1:
            raise _fail(where, f"repeat must be >= 1, got {self.repeat}")
        if self.seed < 0:
            raise _fail(where, f"seed must be >= 0, got {self.seed}")
        if self.dist not in ("in", "out"):
            raise _fail(where, f"dist must be 'in' or 'out', got {self.dist!r}")
        if self.crop_multiple is not None and self.crop_multiple < 1:
            raise _fail(where, f"crop_multiple must be >= 1, got {self.crop_multiple}")
        if self.key not in ("name", "index"):
            raise _fail(where, f"key must be 'name' or 'index', got {self.key!r}")

    @property
    def embedded_split(self) -> str | None:
        """``train``/``test``/``all`` when ``clean`` names the embedded photographs, else None."""
        if self.clean and str(self.clean).startswith(EMBEDDED):
            return str(self.clean)[len(EMBEDDED):]
        return None

    def paths(self) -> builtins.list[str]:  # `list` is a field of this class
        """The folders/files this source reads, relative to the root (for messages)."""
        if self.kind == "synthetic":
            return [str(self.clean)] + ([str(self.depth)] if self.depth else [])
        if self.kind == "list":
            return [str(Path(self.base) / str(self.list))]
        if self.scenes:
            return [f"{self.scenes}/<scene>/{self.lq}", f"{self.scenes}/<scene>/{self.gt}"]
        return [str(self.lq), str(self.gt)]

    def for_task(self, task: str) -> SourceSpec:
        """This entry for ``task`` (a template entry ``"*"`` becomes that task's entry)."""
        if self.task != ANY_TASK:
            return self
        return replace(self, task=task, degrade=self.degrade or task,
                       column=self.column or task)


@dataclass(frozen=True)
class Setting:
    """A benchmark setting: task names (ids are positions), training sources, test sets and
    the evaluation protocol (a preset name or a mapping of :class:`aioir.metrics.Protocol`
    fields). ``crop_multiple``: test images are centre-cropped to a multiple of it (PromptIR's
    ``crop_img(base=16)``); 1 keeps them whole. ``any_tasks``: a template setting whose runs
    may choose any catalogue tasks (see the module notes)."""

    name: str
    task_names: tuple[str, ...]
    train: tuple[SourceSpec, ...]
    test: tuple[SourceSpec, ...]
    protocol_spec: Any = "mioir"
    crop_multiple: int = 1
    description: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    any_tasks: bool = False

    @property
    def protocol(self):  # -> aioir.metrics.Protocol
        """The evaluation protocol (:class:`aioir.metrics.Protocol`)."""
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

    @property
    def needs_root(self) -> bool:
        """Whether any source reads files under the dataset root (the embedded ones do not)."""
        return any(s.kind != "synthetic" or s.embedded_split is None
                   for s in self.train + self.test)

    def for_tasks(self, tasks: Sequence[str] | None) -> Setting:
        """The setting restricted to (or, with ``any_tasks``, instantiated for) ``tasks``.

        ``None`` keeps the setting's own tasks. A fixed setting accepts a subset of its tasks
        (in any order: ids follow ``tasks``); a template setting accepts any catalogue tasks.

        >>> s = Setting.from_dict({"tasks": ["a", "b"], "train": [
        ...     {"task": "a", "kind": "paired", "lq": "x", "gt": "y"},
        ...     {"task": "b", "kind": "paired", "lq": "x", "gt": "y"}]}, "demo")
        >>> s.for_tasks(["b"]).task_names, len(s.for_tasks(["b"]).train)
        (('b',), 1)
        >>> s.for_tasks(["c"])
        Traceback (most recent call last):
        ...
        ValueError: data.tasks: 'c' is not a task of setting '' (tasks: a, b)
        """
        if tasks is None:
            if not self.any_tasks:
                return self
            tasks = self.task_names
        tasks = tuple(tasks)
        if not tasks or len(set(tasks)) != len(tasks):
            raise ValueError(f"data.tasks must be a non-empty list of distinct names, got "
                             f"{list(tasks)}")
        if self.any_tasks:
            from aioir.degradations import get_task  # local: 0.6-1.5 s (SourceSpec.validate)

            for t in tasks:
                try:
                    get_task(t)
                except ValueError as exc:
                    raise ValueError(f"data.tasks: {exc}") from None
        else:
            for t in tasks:
                if t not in self.task_names:
                    raise ValueError(
                        f"data.tasks: {t!r} is not a task of setting {self.name!r}"
                        f"{suggest(t, self.task_names)} (tasks: {', '.join(self.task_names)})")

        def pick(specs: tuple[SourceSpec, ...]) -> tuple[SourceSpec, ...]:
            out = []
            for t in tasks:  # the order of tasks: ids and table columns follow the run
                out += [s.for_task(t) for s in specs if s.task in (t, ANY_TASK)]
            return tuple(out)

        return replace(self, task_names=tasks, train=pick(self.train), test=pick(self.test))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "setting") -> Setting:
        """Build and validate a setting from its YAML mapping."""
        known = {"name", "tasks", "train", "test", "protocol", "crop_multiple", "description",
                 "notes", "any_tasks"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise _fail(where, f"unknown keys {unknown}; known: {sorted(known)}")
        tasks = tuple(data.get("tasks") or ())
        if not tasks or len(set(tasks)) != len(tasks):
            raise _fail(where, f"'tasks' must be a non-empty list of distinct names, got {tasks}")
        any_tasks = bool(data.get("any_tasks", False))
        train = tuple(SourceSpec.from_dict(d, f"{where}.train.{i}")
                      for i, d in enumerate(data.get("train") or ()))
        test = tuple(SourceSpec.from_dict(d, f"{where}.test.{i}")
                     for i, d in enumerate(data.get("test") or ()))
        for split, specs in (("train", train), ("test", test)):
            for i, spec in enumerate(specs):
                if spec.task == ANY_TASK and not any_tasks:
                    raise _fail(f"{where}.{split}.{i}", "task '*' needs any_tasks: true")
                if spec.task not in tasks + (ANY_TASK,) and split == "train":
                    raise _fail(f"{where}.train.{i}",
                                f"task {spec.task!r} is not in tasks {tasks}")
        covered = {s.task for s in train}
        missing = [t for t in tasks if t not in covered and ANY_TASK not in covered]
        if missing:
            raise _fail(where, f"tasks without a training source: {missing}")
        columns = [(s.group, s.column) for s in test if s.task != ANY_TASK]
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
            any_tasks=any_tasks,
        )
