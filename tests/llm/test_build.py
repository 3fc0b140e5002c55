"""The llama.cpp build check: a build that crashes must crash a child process, never the caller.

The failing builds here are real child processes that die the way a broken build does (SIGSEGV, an error exit, a
hang); the passing one is the installed llama-cpp-python on the real SmolLM2 file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support import missing, need

from contextwise.errors import BackendError
from contextwise import _native
from contextwise.llm import _build


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    need("llama_cpp", "the build check inspects the installed llama-cpp-python (extra `local`)")
    monkeypatch.setenv("CONTEXTWISE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(_build.CHECK_ENV, raising=False)
    _native._verdicts.clear()
    return tmp_path / "cache"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return path


def child(tmp_path: Path, body: str) -> list[str]:
    """A Python child that records each run in runs.txt, then does `body`."""
    runs = tmp_path / "runs.txt"
    return [sys.executable, "-c", f"open({str(runs)!r}, 'a').write('run\\n')\n{body}"]


def runs(tmp_path: Path) -> int:
    path = tmp_path / "runs.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_check_turns_a_segfaulting_child_into_a_backend_error_naming_the_fix(tmp_path, model):
    crash = child(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(BackendError) as caught:
        _build.check_build(model, command=crash)
    assert "SIGSEGV" in str(caught.value)
    assert _build.REINSTALL_COMMAND in str(caught.value)
    assert caught.value.backend == "llama.cpp"


def test_check_remembers_a_crash_on_disk_so_the_child_runs_once(tmp_path, model, cache):
    crash = child(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    for _ in range(2):
        with pytest.raises(BackendError):
            _build.check_build(model, command=crash)
    _native._verdicts.clear()  # a new process: only the verdict on disk is left
    with pytest.raises(BackendError, match="SIGSEGV"):
        _build.check_build(model, command=crash)
    assert runs(tmp_path) == 1
    assert len(list((cache / "llama-check").glob("*.json"))) == 1


def test_check_reports_an_error_exit_with_the_childs_last_line(tmp_path, model):
    failing = child(tmp_path, "import sys\nsys.stderr.write('llama_model_load: unknown model architecture\\n')\n"
                              "sys.exit(3)")
    with pytest.raises(BackendError, match="exit code 3: llama_model_load: unknown model architecture"):
        _build.check_build(model, command=failing)


def test_check_does_not_remember_a_timeout(tmp_path, model):
    hang = child(tmp_path, "import time\ntime.sleep(30)")
    for _ in range(2):
        _native._verdicts.clear()
        with pytest.raises(BackendError, match="timed out"):
            # long enough for a loaded machine's child to start and record its run before it is killed
            _build.check_build(model, command=hang, timeout_s=3)
    assert runs(tmp_path) == 2


def test_check_is_per_model_file(tmp_path, model):
    crash = child(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF2")
    for path in (model, other):
        with pytest.raises(BackendError):
            _build.check_build(path, command=crash)
    assert runs(tmp_path) == 2


def test_check_can_be_turned_off(tmp_path, model, monkeypatch):
    monkeypatch.setenv(_build.CHECK_ENV, "0")
    crash = child(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    assert _build.check_build(model, command=crash).ok
    assert runs(tmp_path) == 0


def test_check_passes_the_installed_build_on_the_real_model(cache):
    from contextwise.errors import MissingDependencyError
    from contextwise.llm import smollm2_path

    try:
        path = smollm2_path()
    except MissingDependencyError as exc:
        missing(str(exc))
    verdict = _build.check_build(path)
    assert verdict.ok, verdict.detail
    assert "contextwise-llama-ok" in verdict.detail
    assert len(list((cache / "llama-check").glob("*.json"))) == 1


def test_installed_build_has_no_native_or_amx_cpu_path():
    # The build .ci/run installs is the portable one: no AMX, and no AVX-512 (which the portable set leaves out).
    llama_cpp = need("llama_cpp")
    info = llama_cpp.llama_print_system_info().decode()
    assert "AVX2 = 1" in info
    assert "AMX" not in info and "AVX512 = 1" not in info, info


@pytest.mark.parametrize(("a", "b"), [
    (("0.3.36", "-DGGML_NATIVE=OFF"), ("0.3.36", "-DGGML_NATIVE=ON")),
    (("0.3.36", "-DGGML_NATIVE=OFF"), ("0.3.37", "-DGGML_NATIVE=OFF")),
], ids=["flags", "version"])
def test_build_key_changes_with_flags_and_version(a, b):
    assert _build.build_key(*a) != _build.build_key(*b)
    assert _build.build_key("0.3.36", "-DA=1  -DB=2") == _build.build_key("0.3.36", "-DA=1 -DB=2")


def test_portable_flags_leave_out_native_and_amx():
    flags = _build.portable_cmake_args("x86_64").split()
    assert "-DGGML_NATIVE=OFF" in flags
    assert not any(f.startswith("-DGGML_AMX") and f.endswith("=ON") for f in flags)
    assert _build.portable_cmake_args("aarch64") == _build.GENERIC_CMAKE_ARGS


def test_install_does_nothing_when_this_build_is_installed(cache):
    # A marker for the installed library with this build's key: nothing to build or reinstall, no pip run.
    key = _build.build_key(_build.LLAMA_CPP_VERSION, _build.portable_cmake_args())
    cache.mkdir(parents=True)
    (cache / "llama-installed.json").write_text(json.dumps({_build._library_id(): key}))
    assert _build.installed_key() == key
    assert _build.install_local(log=lambda line: None).action == "present"
