"""A compiled library that cannot kill the caller: its work runs once in a child process first.

A compiled extension built for another CPU dies of SIGILL or SIGSEGV in the process that loads it, and no Python
`except` can catch that. It happens on fresh machines: pip caches a wheel it built from source under the
package's version alone, whatever CPU built it, and a pip cache, a virtualenv or an image moves between machines.
`check` runs the library's work in a child process and remembers the verdict per key (the library file, the CPU,
the interpreter and the child's argv), in this process and on disk under `cache_dir()/<name>-check`, so a build
that crashes kills one child, once per machine, and the caller gets a verdict to turn into a typed error.

Used by the llama.cpp build (llm/_build.py) and by hnswlib (stores/_hnsw.py); `pip` is how both reinstall.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from contextwise._paths import cache_dir
from contextwise.errors import BackendError, UsageError


@dataclass(frozen=True)
class Verdict:
    """The outcome of running a library's check in a child process.

    Attributes:
        ok: the child did its work and printed the expected line.
        detail: that line, or how the child died.
    """

    ok: bool
    detail: str


_verdicts: dict[str, Verdict] = {}
_verdicts_lock = threading.Lock()


def _after_fork() -> None:
    """A process forked while another thread ran a check (held the lock) starts with the lock free."""
    global _verdicts_lock
    _verdicts_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork)


def check(name: str, argv: Sequence[str], *, ok_line: str, key: Sequence[object], timeout_s: float,
          env: Mapping[str, str] | None = None) -> Verdict:
    """Run `argv` once per `key`, this CPU and interpreter, and say whether it printed a line starting with
    `ok_line` and exited 0. A verdict is remembered in this process and on disk; a timeout is a failure that is
    not remembered (a machine under load may pass next time).

    Args:
        name: the library, for the folder of its verdicts (`<name>-check`).
        argv: the child; it should do the work the caller is about to do in-process.
        ok_line: how the child's last line of a good run starts.
        key: what else the verdict depends on (e.g. `fingerprint(library file)`).
        timeout_s: how long the child may take.
        env: extra environment variables for the child.

    Raises:
        UsageError: the child could not be started at all.
    """
    digest, path = _place(name, argv, key)
    with _verdicts_lock:
        verdict = _remembered(digest, path)
        if verdict is None:
            verdict = _run(argv, ok_line, timeout_s, env)
            if verdict.ok or "timed out" not in verdict.detail:
                _save(path, verdict)
            _verdicts[digest] = verdict
    return verdict


def known(name: str, argv: Sequence[str], *, key: Sequence[object]) -> Verdict | None:
    """The verdict `check` would give without running the child (remembered in this process or on disk), or None.
    Never waits for a check running meanwhile."""
    return _remembered(*_place(name, argv, key))


def _remembered(digest: str, path: Path) -> Verdict | None:
    """The verdict kept in this process, else the one on disk (then kept in this process too), else None."""
    verdict = _verdicts.get(digest)
    if verdict is None:
        verdict = _load(path)
        if verdict is not None:
            _verdicts.setdefault(digest, verdict)
    return verdict


def _place(name: str, argv: Sequence[str], key: Sequence[object]) -> tuple[str, Path]:
    """A verdict's key in memory and its file."""
    digest = hashlib.sha256(json.dumps([*key, cpu(), python(), list(argv)]).encode()).hexdigest()[:24]
    return digest, cache_dir() / f"{name}-check" / f"{digest}.json"


@functools.lru_cache(maxsize=1)
def python() -> str:
    """The Python that runs children (checks, pip): `sys.executable`, unless this interpreter is embedded in a
    program that is not a Python (uwsgi, mod_wsgi), whose executable does not take `-c`; then the interpreter of
    this version in its prefix (a virtualenv's own first)."""
    executable = sys.executable or ""
    if Path(executable).name.lower().startswith(("python", "pypy")):
        return executable
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    names = (f"bin/python{version}", f"bin/python{sys.version_info[0]}", "bin/python", "python.exe",
             "Scripts/python.exe")
    for prefix in dict.fromkeys((sys.prefix, sys.exec_prefix, sys.base_exec_prefix)):
        for name in names:
            candidate = Path(prefix) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return executable  # no Python found: the check fails and its verdict says how


def fingerprint(path: Path) -> list[object]:
    """What changes when a library file is replaced: its resolved path, size and modification time."""
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


@functools.lru_cache(maxsize=1)
def cpu() -> str:
    """This machine's CPU model and feature flags (what a native build depends on; read once a process)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = [line for line in info.splitlines() if line.startswith(("model name", "flags", "Features"))]
    return "\n".join(dict.fromkeys(lines))


def pip(args: Sequence[str], log_file: Path, *, backend: str, env: Mapping[str, str] | None = None) -> None:
    """Run pip in this interpreter with `args`, its output appended to `log_file`; `env`: extra environment
    variables for pip (as for `check`).

    Raises:
        BackendError: pip failed (the message names the log file), for `backend`.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a") as out:
        done = subprocess.run([python(), "-m", "pip", "--disable-pip-version-check", *args], stdout=out,
                              stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, check=False)
    if done.returncode != 0:
        raise BackendError(f"pip {args[0]} failed (exit {done.returncode}); its output is in {log_file}",
                           backend=backend)


def _load(path: Path) -> Verdict | None:
    try:
        data = json.loads(path.read_text())
        return Verdict(bool(data["ok"]), str(data["detail"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save(path: Path, verdict: Verdict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_text(json.dumps({"ok": verdict.ok, "detail": verdict.detail}))
        temp.replace(path)
    except OSError:
        pass  # a read-only home: the check simply runs again next process


def _run(argv: Sequence[str], ok_line: str, timeout_s: float, env: Mapping[str, str] | None) -> Verdict:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, **(env or {})}, check=False)
    except subprocess.TimeoutExpired:
        return Verdict(False, f"the check timed out after {timeout_s:g} s")
    except OSError as exc:
        raise UsageError(f"could not start the check of {argv[0]}: {exc}") from exc
    last = done.stdout.strip().splitlines()[-1:]
    if done.returncode == 0 and last and last[0].startswith(ok_line):
        return Verdict(True, last[0])
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name if -done.returncode in signal.valid_signals() else "a signal"
        return Verdict(False, f"a test run crashed with {name}")
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return Verdict(False, f"a test run failed with exit code {done.returncode}: {tail[0][:300]}")
