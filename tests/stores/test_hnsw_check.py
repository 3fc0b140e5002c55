"""hnswlib built for another CPU must not kill the process: its work runs once in a child process first.

The broken build here is a real module named `hnswlib`, first on the path of a real Python process, that dies of
SIGILL when imported (as pip's cached `-march=native` wheel from an AVX-512 machine does on a CPU without it). The
store in that process answers exactly and names the fix, and never imports the module itself: if it did, the
process would die and the test would see that. The passing build is the installed hnswlib.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import need

from contextwise import _native
from contextwise.errors import BackendError, UsageError
from contextwise.stores import _hnsw

_STORE_IN_A_CHILD = """
import json, pathlib, sys, warnings
import numpy as np
from contextwise.errors import BackendError, UsageError
from contextwise.stores import HnswSearch, SQLiteStore
from contextwise.types import Record

rows = np.random.default_rng(0).standard_normal((40, 8))
rows /= np.linalg.norm(rows, axis=1, keepdims=True)
store = SQLiteStore(sys.argv[1], 8, search=HnswSearch(min_vectors=10), build_in_background=False)
store.upsert([Record(f"r{i}", f"text {i}", tuple(map(float, v))) for i, v in enumerate(rows)], tenant="t")
store.upsert([Record("u0", "small", tuple(map(float, rows[0])))], tenant="u")

def queries():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        hits = [store.query(rows[i], 1, tenant="t")[0].record.id for i in range(5)]
    return hits, [str(w.message) for w in seen]

before, warned_before = queries()  # the machine's first check starts now, beside the store's lock
counted = store.count(tenant="u")
gate = pathlib.Path(sys.argv[2])
gate_was_shut = not gate.exists()
gate.write_text("open")  # lets a gated check's child go on
try:
    store.build_index(tenant="t")  # waits for the check's verdict
    built = "built"
except BackendError as exc:
    built = f"{type(exc).__name__}: {exc}"
after, warned_after = queries()
store.close()
print(json.dumps({"before": before, "warned_before": warned_before, "counted": counted,
                  "gate_was_shut": gate_was_shut, "build": built, "after": after, "warned_after": warned_after,
                  "imported": "hnswlib" in sys.modules}))
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONTEXTWISE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(_hnsw.CHECK_ENV, raising=False)
    return tmp_path / "cache"


# Records each import in runs.txt beside it, waits while $HNSW_TEST_GATE names a file that does not exist (up to
# 60 s), then dies the way a build for another CPU does.
_BROKEN = ("import os, signal, time\nopen(os.path.join(os.path.dirname(__file__), 'runs.txt'), 'a').write('run\\n')\n"
           "gate = os.environ.get('HNSW_TEST_GATE')\nfor _ in range(600 if gate else 0):\n"
           "    if os.path.exists(gate):\n        break\n    time.sleep(0.1)\n"
           "os.kill(os.getpid(), signal.SIGILL)\n")


def _broken_hnswlib(folder: Path) -> Path:
    folder.mkdir()
    (folder / "hnswlib.py").write_text(_BROKEN)
    return folder


def _runs(folder: Path) -> int:
    path = folder / "runs.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _run_store(tmp_path: Path, cache: Path, *, path_first: Path | None = None, check: str | None = None,
               gated: bool = False) -> subprocess.CompletedProcess[str]:
    src = Path(_hnsw.__file__).parents[2]
    paths = [str(p) for p in (path_first, src, Path(__file__).parents[1]) if p is not None]
    env = {**os.environ, "CONTEXTWISE_CACHE_DIR": str(cache), "PYTHONPATH": os.pathsep.join(paths)}
    env.pop(_hnsw.CHECK_ENV, None)
    gate = tmp_path / "gate"
    gate.unlink(missing_ok=True)
    if gated:
        env["HNSW_TEST_GATE"] = str(gate)
    if check is not None:
        env[_hnsw.CHECK_ENV] = check
    return subprocess.run([sys.executable, "-c", _STORE_IN_A_CHILD, str(tmp_path / "s.db"), str(gate)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def _out(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def test_a_store_over_an_hnswlib_that_crashes_answers_exactly_and_names_the_fix(tmp_path, cache):
    out = _out(_run_store(tmp_path, cache, path_first=_broken_hnswlib(tmp_path / "broken")))
    exact = ["r0", "r1", "r2", "r3", "r4"]  # exact search: each row is its own nearest
    assert out["before"] == exact and out["after"] == exact
    assert not out["imported"]
    assert out["build"].startswith("BackendError: hnswlib: this hnswlib build does not run on this machine")
    assert out["warned_before"] == []  # the check was still running: exact meanwhile, nothing known to warn of
    assert len(out["warned_after"]) == 1 and "SIGILL" in out["warned_after"][0]
    assert _hnsw.REBUILD_COMMAND in out["warned_after"][0] and "searching exactly" in out["warned_after"][0]
    # the verdict is on disk, so the next process does not run the crashing child again, and warns at once
    verdicts = [json.loads(p.read_text()) for p in (cache / "hnswlib-check").glob("*.json")]
    assert verdicts == [{"ok": False, "detail": "a test run crashed with SIGILL"}]
    assert _runs(tmp_path / "broken") == 1
    again = _out(_run_store(tmp_path, cache, path_first=tmp_path / "broken"))
    assert len(again["warned_before"]) == 1 and "SIGILL" in again["warned_before"][0]
    assert _runs(tmp_path / "broken") == 1


def test_a_query_never_waits_for_the_check_under_the_store_lock(tmp_path, cache):
    # The check's child blocks until the store's process opens the gate: the queries of the large tier and the
    # count of another tenant all answered before it could have given a verdict.
    out = _out(_run_store(tmp_path, cache, path_first=_broken_hnswlib(tmp_path / "broken"), gated=True))
    assert out["gate_was_shut"]
    assert out["before"] == ["r0", "r1", "r2", "r3", "r4"] and out["warned_before"] == []
    assert out["counted"] == 1
    assert out["build"].startswith("BackendError: hnswlib: this hnswlib build does not run on this machine")
    assert len(out["warned_after"]) == 1 and "SIGILL" in out["warned_after"][0]
    assert _runs(tmp_path / "broken") == 1  # one check, though five queries asked while it ran


def test_children_run_a_python_where_the_host_program_is_not_one(tmp_path, cache, monkeypatch):
    # uwsgi or mod_wsgi embed Python: sys.executable is the host program, which does not take -c.
    need("hnswlib", "the check runs the installed hnswlib (extra `embed`)")
    host = tmp_path / "uwsgi"
    host.write_text("#!/bin/sh\nexit 3\n")
    host.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(host))
    monkeypatch.delitem(sys.modules, "hnswlib", raising=False)
    monkeypatch.setattr(_native, "_verdicts", {})
    _native.python.cache_clear()
    try:
        python = _native.python()
        assert python != str(host) and Path(python).name.startswith("python")
        done = subprocess.run([python, "-c", "import json, sys; print(json.dumps([sys.prefix, sys.version_info[:2]]))"],
                              capture_output=True, text=True, check=True)
        assert json.loads(done.stdout) == [sys.prefix, list(sys.version_info[:2])]
        assert _hnsw.hnswlib_problem() is None  # the check ran in that Python and passed
    finally:
        _native.python.cache_clear()


def test_without_the_check_the_broken_build_kills_the_process(tmp_path, cache):
    # What the check prevents, shown: CONTEXTWISE_HNSW_CHECK=0 imports the build in the process itself.
    done = _run_store(tmp_path, cache, path_first=_broken_hnswlib(tmp_path / "broken"), check="0")
    assert done.returncode == -4  # SIGILL
    assert not (cache / "hnswlib-check").exists()


def test_the_installed_hnswlib_passes_the_check_and_is_used(tmp_path, cache):
    need("hnswlib", "the check runs the installed hnswlib (extra `embed`)")
    out = _out(_run_store(tmp_path, cache))
    exact = ["r0", "r1", "r2", "r3", "r4"]
    assert out == {"before": exact, "warned_before": [], "counted": 1, "gate_was_shut": True, "build": "built",
                   "after": exact, "warned_after": [], "imported": True}
    verdicts = [json.loads(p.read_text()) for p in (cache / "hnswlib-check").glob("*.json")]
    assert len(verdicts) == 1 and verdicts[0]["ok"]
    assert verdicts[0]["detail"].startswith("contextwise-hnswlib-ok")


def test_a_failure_is_remembered_per_library_file(tmp_path, cache, monkeypatch):
    # In this process (hnswlib may be imported here already: the broken module is found first, never imported).
    broken = _broken_hnswlib(tmp_path / "broken")
    monkeypatch.syspath_prepend(str(broken))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(broken), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delitem(sys.modules, "hnswlib", raising=False)
    monkeypatch.setattr(_native, "_verdicts", {})
    problem = _hnsw.hnswlib_problem()
    assert isinstance(problem, BackendError) and "SIGILL" in str(problem)
    _native._verdicts.clear()  # a new process: only the verdict on disk is left
    with pytest.raises(BackendError, match="rebuild it for this CPU with: contextwise install-hnsw"):
        _hnsw._hnswlib()
    assert _runs(broken) == 1
    (broken / "hnswlib.py").write_text(_BROKEN + "# reinstalled\n")  # another file: checked anew
    _native._verdicts.clear()
    assert isinstance(_hnsw.hnswlib_problem(), BackendError)
    assert _runs(broken) == 2
    assert "hnswlib" not in sys.modules


def test_install_hnsw_leaves_a_build_that_runs_here_alone(tmp_path, cache):
    library = Path(need("hnswlib", "the check runs the installed hnswlib (extra `embed`)").__file__)
    before = library.stat().st_mtime_ns
    env = {**os.environ, "CONTEXTWISE_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-m", "contextwise.cli", "install-hnsw"], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "the installed build runs here" in done.stderr
    assert library.stat().st_mtime_ns == before and not (cache / "hnswlib-rebuild.log").exists()


def test_a_forced_rebuild_refuses_in_a_process_that_imported_hnswlib(cache):
    need("hnswlib")
    with pytest.raises(UsageError, match="imported in this process already"):
        _hnsw.rebuild_hnswlib(force=True)
    assert not (cache / "hnswlib-rebuild.log").exists()


def test_a_process_forked_during_a_check_can_run_its_own(cache):
    # Another thread's check holds the verdicts' lock while its child runs; a fork then (a pre-forking server)
    # must not leave the forked process waiting for a lock nobody in it will release.
    with _native._verdicts_lock:
        pid = os.fork()
        if pid == 0:  # the forked process: exits 0 only if its check ran and passed
            signal.alarm(60)
            verdict = _native.check("fork-test", [_native.python(), "-c", "print('fork-ok')"], ok_line="fork-ok",
                                    key=[], timeout_s=30)
            os._exit(0 if verdict.ok else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
