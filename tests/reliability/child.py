"""A child process for the reliability scenarios: ``aioir train`` with one place to stop at.

``python child.py READY MODE ARG -- aioir-args...`` runs ``aioir.cli.main(aioir-args)`` after
patching one point of the run; when that point is reached the child writes the file READY (with
what it did) and sleeps until the test kills it (SIGKILL). Modes:

* ``pause-at-step N``: after optimizer step N (before its checkpoint);
* ``cut-checkpoint K:FRACTION``: inside the K-th checkpoint write, after FRACTION of its bytes
  went to the temporary file (flushed, so they are on disk);
* ``before-rename K``: the K-th checkpoint is complete in its temporary file, not yet renamed;
* ``file-size-limit BYTES``: no pause; every file write beyond BYTES fails in the kernel
  (``RLIMIT_FSIZE``, with SIGXFSZ ignored: ``write`` returns ``EFBIG``), as on a full disk.
* ``stop-at-fsync FOLDER``: inside the first ``os.fsync`` of a file in FOLDER (a write that is
  complete in its temporary file, not yet renamed), e.g. ``aioir export``'s.
* ``tiny-demo STEPS[:uncached]``: no pause; ``aioir demo --quick`` trains STEPS steps (batch 1)
  of a width-8 network on 16 px patches (its workers get the budget in their configs), its
  stream synthesised in-process (``uncached``: by each arm as it trains, no shared stream), so a
  test can kill it while its workers run.

Nothing here is part of aioir: it only wraps ``torch.save``, ``os.replace`` or the Trainer's
``on_step`` callback, whatever aioir version runs.
"""

from __future__ import annotations

import io
import os
import re
import sys
import time
from pathlib import Path


def _stop(ready: Path, what: str) -> None:
    ready.write_text(what)
    while True:  # the test kills us
        time.sleep(60)


def main() -> int:
    ready, mode, arg = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    assert sys.argv[4] == "--"
    argv = sys.argv[5:]
    if mode == "pause-at-step":
        import aioir.engine.trainer as trainer

        fit, at = trainer.Trainer.fit, int(arg)

        def patched_fit(self, on_step=None, **kwargs):
            def hook(step: int) -> None:
                if on_step is not None:
                    on_step(step)
                if step == at:
                    _stop(ready, f"step {step}")

            return fit(self, on_step=hook, **kwargs)

        trainer.Trainer.fit = patched_fit
    elif mode == "cut-checkpoint":
        import torch

        k, fraction = arg.split(":")
        k, fraction = int(k), float(fraction)
        save, count = torch.save, [0]

        def patched_save(obj, f, *args, **kwargs):
            count[0] += 1
            if count[0] != k or isinstance(f, (str, os.PathLike)):
                return save(obj, f, *args, **kwargs)
            buf = io.BytesIO()
            save(obj, buf, *args, **kwargs)
            data = buf.getvalue()
            cut = int(len(data) * fraction)
            f.write(data[:cut])
            f.flush()
            _stop(ready, f"checkpoint {k}: {cut} of {len(data)} bytes")

        torch.save = patched_save
    elif mode == "before-rename":
        replace, count, k = os.replace, [0], int(arg)

        def patched_replace(src, dst, *args, **kwargs):
            if re.match(r"step_\d+\.pt$", Path(dst).name):
                count[0] += 1
                if count[0] == k:
                    _stop(ready, f"checkpoint {k} before rename: {Path(dst).name}")
            return replace(src, dst, *args, **kwargs)

        os.replace = patched_replace
    elif mode == "file-size-limit":
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = int(arg)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    elif mode == "stop-at-fsync":
        fsync, folder = os.fsync, os.path.realpath(arg)

        def patched_fsync(fd):
            name = os.readlink(f"/proc/self/fd/{fd}") if isinstance(fd, int) else ""
            if os.path.dirname(name) == folder:
                _stop(ready, f"fsync of {name}")
            return fsync(fd)

        os.fsync = patched_fsync
    elif mode == "tiny-demo":
        import aioir.demo as demo

        steps, _, uncached = arg.partition(":")
        demo.BUDGETS["quick"] = demo.DemoBudget(steps=int(steps), patch_size=16, batch_size=1,
                                                lr=1e-3, width=8, val_max_size=32,
                                                whole_max_size=32)
        if uncached:  # each arm synthesises its samples as it trains: a long run starts at once
            import dataclasses

            spec = demo.demo_spec
            demo.demo_spec = lambda *a, **k: dataclasses.replace(spec(*a, **k), cache=False)
    else:
        raise SystemExit(f"unknown mode {mode}")
    from aioir.cli import main as aioir_main

    return aioir_main(argv)


if __name__ == "__main__":
    sys.exit(main())
