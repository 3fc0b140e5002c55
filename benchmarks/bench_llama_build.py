"""Which llama.cpp CPU build to ship: SmolLM2-135M prompt evaluation and generation, build against build.

Each build is a llama-cpp-python installed into a folder of its own (`pip install --no-deps --target DIR
WHEEL`); every run is a fresh child process with that folder first on its path, and the builds take turns
(A B A B ...) so that load from other work on the machine falls on all of them alike.

    python benchmarks/bench_llama_build.py avx2=/tmp/t2 avx512=/tmp/t512 --runs 5

Prints tokens/s per build (median of the runs), the ratio to the first build, and the CPU features each build
reports. The first build is the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from _data import shared_data

CHILD = r"""
import json, sys, time
import llama_cpp
path, prompt_tokens, gen_tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
text = open(sys.argv[4]).read()
model = llama_cpp.Llama(path, n_ctx=2048, n_batch=512, n_ubatch=512, n_threads=2, n_threads_batch=2,
                        verbose=False)
ids = model.tokenize(text.encode())[:prompt_tokens]
model.eval(ids[:32])  # warm up the kernels
model.reset()
start = time.perf_counter()
model.eval(ids)
prompt_s = time.perf_counter() - start
model.reset()
start = time.perf_counter()
out = model.create_completion("The capital of France is", max_tokens=gen_tokens, temperature=0.0)
gen_s = time.perf_counter() - start
print(json.dumps({"prompt_tps": len(ids) / prompt_s, "gen_tps": out["usage"]["completion_tokens"] / gen_s,
                  "answer": out["choices"][0]["text"][:24],
                  "system": llama_cpp.llama_print_system_info().decode()}))
"""


def text_file(out: Path) -> Path:
    """Real English prose (the PG essays) when the shared data is there, else the package's own sample."""
    essays = shared_data() / "niah-paul-graham-essays"
    files = sorted(essays.rglob("*.txt"))[:8]
    text = "\n\n".join(f.read_text(errors="replace") for f in files) if files else ""
    if not text:
        text = " ".join(p.read_text() for p in (Path(__file__).parents[1] / "src/contextwise/data").rglob("*.txt"))
    out.write_text(text)
    return out


def run(site: str, model: str, args: argparse.Namespace, text: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": site, "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, "-c", CHILD, model, str(args.prompt_tokens), str(args.gen_tokens),
                           str(text)], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {(done.stderr or '').strip()[-200:]}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("builds", nargs="+", help="name=DIR, DIR holding an installed llama_cpp package")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    parser.add_argument("--gen-tokens", type=int, default=64)
    args = parser.parse_args()
    from contextwise.llm import smollm2_path

    model = str(smollm2_path())
    builds = dict(b.split("=", 1) for b in args.builds)
    text = text_file(Path("/tmp/contextwise-bench-llama-build.txt"))
    results: dict[str, list[dict[str, object]]] = {name: [] for name in builds}
    for i in range(args.runs):
        for name, site in builds.items():
            results[name].append(run(site, model, args, text))
            print(f"run {i + 1} {name}: {results[name][-1].get('prompt_tps', results[name][-1])}", file=sys.stderr)
    print(f"load average: {os.getloadavg()[0]:.1f} (1 min); {args.prompt_tokens}-token prompt, "
          f"{args.gen_tokens} tokens generated, 2 threads, median of {args.runs}")
    ref: float | None = None
    for name, rows in results.items():
        good = [r for r in rows if "error" not in r]
        if not good:
            print(f"{name}: failed: {rows[0]['error']}")
            continue
        prompt = statistics.median(float(str(r["prompt_tps"])) for r in good)
        gen = statistics.median(float(str(r["gen_tps"])) for r in good)
        ref = ref or prompt
        print(f"{name:10s} prompt eval {prompt:7.1f} tok/s ({prompt / ref:.2f}x)  generation {gen:6.1f} tok/s  "
              f"answer {good[0]['answer']!r}")
        print(f"{'':10s} {str(good[0]['system']).strip()}")


if __name__ == "__main__":
    main()
