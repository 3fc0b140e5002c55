"""Where the public benchmark data is: one rule for every benchmark script.

`$CW_BENCH_DATA` when set; else `../shared/bench/data` beside the checkout, where a git worktree counts as its main
checkout (so a branch checked out elsewhere finds the same data). The tests never read it: the repository stands
alone, and each benchmark says what it needs when the folder is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """The benchmark data folder (it may not exist: callers check the files they need)."""
    if os.environ.get("CW_BENCH_DATA"):
        return Path(os.environ["CW_BENCH_DATA"])
    return _main_checkout(REPO).parent / "shared" / "bench" / "data"


def _main_checkout(repo: Path) -> Path:
    """`repo`, or for a git worktree (whose .git is a file naming .../main/.git/worktrees/NAME) its main checkout."""
    git = repo / ".git"
    if git.is_file():
        line = git.read_text(encoding="utf-8").strip()
        if line.startswith("gitdir:"):
            gitdir = Path(line.removeprefix("gitdir:").strip())
            if gitdir.parent.name == "worktrees":
                return gitdir.parent.parent.parent
    return repo
