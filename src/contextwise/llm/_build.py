"""A llama.cpp build that cannot kill the caller: a portable install, and a check in a child process first.

A native llama.cpp build (pip's default for llama-cpp-python) compiles for the CPU it was built on, and its AMX
path segfaults in `llama_decode` on some Xeons; pip then caches that wheel under its version alone, so a later
install with other CMAKE_ARGS silently reuses it. Two defences, one per failure:

- `install_local()` (CLI: `contextwise install-local`) builds llama-cpp-python with `PORTABLE_CMAKE_ARGS`
  (no native, no AMX) into a wheel cache of our own, keyed by version, flags and machine, never pip's cache.
- `check_build(model)` runs the library once in a child process (load + a few tokens of decode) before this
  process loads it, and remembers the verdict per library file, CPU and model file (contextwise/_native.py); a
  crash in the child becomes a `BackendError` naming the command that fixes it, not a dead caller.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import platform
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from pathlib import Path

from contextwise import _native
from contextwise._native import Verdict
from contextwise._native import fingerprint as _fingerprint
from contextwise._paths import cache_dir
from contextwise.errors import BackendError, MissingDependencyError

#: The llama-cpp-python release the suite runs against; pyproject's `local` extra allows the same range.
LLAMA_CPP_VERSION = "0.3.36"
#: The command that (re)installs a working build; every error about the build names it.
REINSTALL_COMMAND = "contextwise install-local --force"
#: x86-64 flags chosen by `benchmarks/bench_llama_build.py`: AVX2/FMA/F16C/BMI2 and no AVX-512 or AMX. AVX-512
#: (VNNI, BF16, VBMI) evaluated SmolLM2's prompt at about the same speed on 2 cores (see the README row) and would
#: not start at all on the many x86-64 machines without it, so the portable set wins.
PORTABLE_CMAKE_ARGS = {
    "x86_64": ("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON "
               "-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"),
}
#: Elsewhere (aarch64, ...) llama.cpp's portable default for the architecture.
GENERIC_CMAKE_ARGS = "-DGGML_NATIVE=OFF"
#: The check's child gets this long (loading under load on 2 cores takes a few seconds; a hang is a failure).
CHECK_TIMEOUT_S = 180.0
#: Set to 0 to skip the child-process check (you accept that a broken build kills your process).
CHECK_ENV = "CONTEXTWISE_LLAMA_CHECK"

_CHILD = """
import sys
import llama_cpp
model = llama_cpp.Llama(sys.argv[1], n_ctx=256, n_batch=64, n_threads=1, verbose=False)
out = model.create_completion("The capital of France is", max_tokens=4, temperature=0.0)
print("contextwise-llama-ok", repr(out["choices"][0]["text"]))
"""


def portable_cmake_args(machine: str | None = None) -> str:
    """The CMAKE_ARGS of a build that runs on any CPU of this architecture."""
    return PORTABLE_CMAKE_ARGS.get(machine or platform.machine(), GENERIC_CMAKE_ARGS)


# -- install ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    """What `install_local` did.

    Attributes:
        action: "built" (compiled now), "cached" (installed from our wheel cache) or "present" (this build was
            already installed; nothing done).
        wheel: the wheel installed, if one was.
        cmake_args: the flags of the build.
    """

    action: Literal["built", "cached", "present"]
    wheel: Path | None
    cmake_args: str


def build_key(version: str, cmake_args: str, machine: str | None = None) -> str:
    """The wheel cache key: a build is reused only for the same version, flags and machine."""
    text = json.dumps([version, " ".join(cmake_args.split()), machine or platform.machine()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def install_local(*, version: str = LLAMA_CPP_VERSION, cmake_args: str | None = None, force: bool = False,
                  log: Callable[[str], None] = print) -> Installed:
    """Install llama-cpp-python built portably into this interpreter, from contextwise's own wheel cache (built
    on first use, then reused for the same version, flags and machine).

    Args:
        version: the llama-cpp-python release.
        cmake_args: build flags; default `portable_cmake_args()`.
        force: reinstall even when the installed build is the one this call would install.
        log: where progress lines go.

    Raises:
        BackendError: pip failed (the message names its log file).
    """
    args = " ".join((cmake_args or portable_cmake_args()).split())
    key = build_key(version, args)
    folder = cache_dir() / "wheels" / f"llama-cpp-python-{version}-{key}"
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    if not force and installed_key() == key:
        return Installed("present", None, args)
    built = not wheels
    if built:
        log(f"building llama-cpp-python {version} (portable: {args}); takes 5-10 min on 2 cores")
        _build_wheel(version, args, folder)
        wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    _pip(["install", "--force-reinstall", "--no-deps", str(wheels[0])], folder)
    _pip(["install", str(wheels[0])], folder)  # its own dependencies, if missing
    importlib.invalidate_caches()
    _markers_file().parent.mkdir(parents=True, exist_ok=True)
    markers = _markers()
    markers[_library_id()] = key
    _markers_file().write_text(json.dumps(markers, indent=1))
    return Installed("built" if built else "cached", wheels[0], args)


def installed_key() -> str | None:
    """The build key of the llama-cpp-python in this interpreter if `install_local` installed it, else None
    (pip reinstalling it by other means changes the library file, and so forgets the key)."""
    try:
        return _markers().get(_library_id())
    except MissingDependencyError:
        return None


def _markers_file() -> Path:
    return cache_dir() / "llama-installed.json"


def _markers() -> dict[str, str]:
    try:
        data = json.loads(_markers_file().read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _library_id() -> str:
    return json.dumps(_fingerprint(_library_file()))


def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("llama_cpp")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def _build_wheel(version: str, cmake_args: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        env = {"CMAKE_ARGS": cmake_args, "FORCE_CMAKE": "1",
               "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
        # --no-cache-dir: pip's cache holds wheels under their version alone, whatever flags built them.
        _pip(["wheel", "--no-deps", "--no-cache-dir", "--no-binary", "llama-cpp-python", "-w", scratch,
              f"llama-cpp-python=={version}"], folder, env=env)
        for wheel in Path(scratch).glob("llama_cpp_python-*.whl"):
            wheel.replace(folder / wheel.name)  # whole wheels only: a build cut short leaves nothing cached


def _pip(args: Sequence[str], folder: Path, *, env: dict[str, str] | None = None) -> None:
    _native.pip(args, folder.parent / f"{folder.name}.log", backend="llama.cpp", env=env)


# -- check -----------------------------------------------------------------------------------------------------


def check_build(model: str | Path, *, command: Sequence[str] | None = None,
                timeout_s: float = CHECK_TIMEOUT_S) -> Verdict:
    """Run llama.cpp once in a child process on `model` and raise if it crashes there (remembered per library
    file, CPU and model file, on disk and in this process; see contextwise/_native.py).

    Args:
        model: the GGUF file this process is about to load.
        command: the child to run (argv; the model path is appended); default a Python child that loads
            `model` with llama-cpp-python and decodes four tokens.
        timeout_s: how long the child may take; a child that takes longer is a failure (not remembered).

    Raises:
        BackendError: the child crashed, failed or hung; the message names `REINSTALL_COMMAND`.
        MissingDependencyError: llama-cpp-python is not installed.
    """
    if os.environ.get(CHECK_ENV, "1") == "0":
        return Verdict(True, f"not checked ({CHECK_ENV}=0)")
    model = Path(model)
    argv = [*(command or [_native.python(), "-c", _CHILD]), str(model)]
    verdict = _native.check("llama", argv, ok_line="contextwise-llama-ok", timeout_s=timeout_s,
                            key=[_fingerprint(_library_file()), _fingerprint(model)],
                            env={"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")})
    if not verdict.ok:
        raise BackendError(f"this llama.cpp build does not run on this machine ({verdict.detail}); reinstall a "
                           f"portable build with: {REINSTALL_COMMAND}  (or set {CHECK_ENV}=0 to skip this check)",
                           backend="llama.cpp")
    return verdict


def _library_file() -> Path:
    folder = _package_dir()
    if folder is None:
        raise MissingDependencyError("the local model", "local", remedy="contextwise install-local")
    libraries = sorted((folder / "lib").glob("libllama*")) or sorted(folder.glob("**/libllama*"))
    return libraries[0] if libraries else folder / "__init__.py"
