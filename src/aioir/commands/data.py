"""``aioir data check SETTING --root DIR [--decode] [--sample N]``: validate a dataset tree;
``aioir data list``: the settings available (presets and ``AIOIR_SETTINGS_DIR``).

Prints, per training source and test set, the number of usable images and every problem
(missing folders with their expected paths, LQ files without a GT partner, LQ/GT size
mismatches, unreadable files). Exit status 0 when the tree is complete, 1 otherwise.
Headers are read for every file; ``--decode`` decodes every file (slow), otherwise ``--sample``
files per source are decoded (default 2).
"""

from __future__ import annotations

import argparse

NAME = "data"
HELP = "dataset tools: `data list` (the settings), `data check SETTING --root DIR` (a tree)"
ORDER = 70


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    sub.add_parser("list", help="the available settings with their tasks")
    check = sub.add_parser("check", help="count images per task and split, report problems")
    check.add_argument("setting", help="setting name (`aioir data list`) or a setting YAML file")
    check.add_argument("--root", required=True, help="dataset root of the setting")
    check.add_argument("--decode", action="store_true",
                       help="decode every image (default: headers for all, decode a sample)")
    check.add_argument("--sample", type=int, default=2,
                       help="images per source decoded without --decode (default 2)")
    check.add_argument("--limit", type=int, default=20,
                       help="problems listed per source (default 20)")


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "data_command", None)
    if command == "list":
        from aioir.settings import get_setting, names

        for name in names():
            s = get_setting(name)
            tasks = ", ".join(s.task_names) + (" (or any catalogue tasks)" if s.any_tasks else "")
            print(f"{name}: {tasks}")
        return 0
    if command != "check":
        print("usage: aioir data check SETTING --root DIR [--decode] [--sample N]\n"
              "       aioir data list")
        return 2
    from aioir.settings.check import check_setting

    report = check_setting(args.setting, args.root, decode=args.decode, sample=args.sample)
    print(report.format(limit=args.limit))
    return 0 if report.ok else 1
