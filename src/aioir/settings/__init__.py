"""Task settings: which tasks, which files, which evaluation protocol, and the datasets built from them.

Every run's data is a setting. The presets ship inside the package
(``aioir/settings/presets/*.yaml``): the built-in synthetic settings ``embedded`` (the
photographs shipped in scikit-image, any catalogue tasks, default the seven MiOIR tasks) and
``folder`` (clean images under a folder), and the benchmarks (``mioir7``, ``three_task``, ...).
Every path inside a setting is relative to the dataset root given at run time.

* :mod:`aioir.settings.spec` — :class:`Setting`, :class:`SourceSpec` (what a setting says);
* :mod:`aioir.settings.catalog` — :func:`get_setting`, :func:`names` (presets,
  ``AIOIR_SETTINGS_DIR``, YAML paths);
* :mod:`aioir.settings.sources` — :func:`collect`, the files of one source and their problems;
* :mod:`aioir.settings.check` — what ``aioir data check`` prints;
* :mod:`aioir.settings.assemble` — the training stream and the test sets of a setting (classes in
  :mod:`aioir.data`), for the engine, ``aioir eval``, the report, the bench and the diffusion
  workflow.

Evaluation is :mod:`aioir.engine.evaluation`.

>>> "three_task" in names()
True
>>> s = get_setting("three_task")
>>> s.task_names
('denoise_15', 'denoise_25', 'denoise_50', 'derain', 'dehaze')
>>> s.protocol.name
'airnet'
"""

from __future__ import annotations

from aioir.settings.catalog import get_setting, names
from aioir.settings.spec import Setting, SourceSpec

__all__ = ["Setting", "SourceSpec", "get_setting", "names"]
