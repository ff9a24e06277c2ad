"""`bot eval`: run a question set through `Bot.ask` (the same path as every interface) and score it.

Each run writes a folder with results.jsonl (per item), summary.json and report.html.
"""

from __future__ import annotations

import difflib
import html
import itertools
import json
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.answer import Answer
from bot.backends import Backend, with_deadlines
from bot.backends.ollama import OllamaBackend
from bot.batch import read_lines
from bot.claims import strip_citations
from bot.core import Bot
from bot.errors import BotError
from bot.grounding import Grounder
from bot.metrics import (
    citation_precision,
    faithfulness,
    invented_facts,
    key_facts_present,
    percentile,
    refusal_scores,
    retrieval_scores,
    token_f1,
)
from bot.paths import bundled_dir
from bot.prompts import render
from bot.validation import MAX_QUESTION_CHARS, validate_input

EVAL_DIR = bundled_dir("eval")


def seed_items() -> Iterator[dict[str, Any]]:
    for name in ("seed.jsonl", "followups.jsonl"):
        for line in read_lines(EVAL_DIR / name):
            if line.strip():
                yield {"setting": name.removesuffix(".jsonl"), **json.loads(line)}


RGB_PATH = Path("../shared/eval-data/rgb/en_fact.json")  # where this project's machines keep it


def rgb_items(path: Path = RGB_PATH) -> list[dict[str, Any]]:
    """Three items per RGB query, each with its own small corpus (see ../shared/eval-data/rgb/README.md).
    The whole file is read and checked at once, so `bot eval` can fail before the model loads."""
    if not path.is_file():
        raise BotError(f"RGB file not found: {path}. Pass --rgb-path to en_fact.json.")
    try:
        lines = read_lines(path)
    except (OSError, UnicodeDecodeError) as err:
        raise BotError(f"--rgb-path {path} cannot be read ({err}).") from None
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
            ident, query, answer, positive, negative = (
                q[k] for k in ("id", "query", "answer", "positive", "negative")
            )
            # Each fact is text or a list of its accepted forms ("Oct 19, 2021", "19 October 2021"), as RGB scores.
            facts = answer if isinstance(answer, list) else [answer]
            first = facts[0][0] if isinstance(facts[0], list) else facts[0]
            wrong = q.get("positive_wrong") or []
            if not all(
                isinstance(s, list) and all(isinstance(t, str) for t in s)
                for s in (positive, negative, wrong)
            ):
                raise TypeError  # snippets: lists of text
            if not all(isinstance(t, str) for t in (query, first, *([q["fakeanswer"]] if wrong else []))):
                raise TypeError
        except (json.JSONDecodeError, TypeError, KeyError, IndexError):
            raise BotError(
                f"--rgb-path {path} line {number} is not an RGB query (a JSON object with id, query, answer, "
                "positive and negative): give RGB's en_fact.json."
            ) from None
        base = {"question": query, "history": []}
        items.append({**base, "id": f"rgb{ident}-answer", "setting": "answer", "answerable": True,
                      "reference": first, "key_facts": facts[:1], "docs": positive + negative,
                      "gold": positive})  # fmt: skip
        items.append({**base, "id": f"rgb{ident}-negative", "setting": "negative", "answerable": False,
                      "reference": "", "key_facts": [], "docs": negative, "gold": []})  # fmt: skip
        if wrong:
            items.append({**base, "id": f"rgb{ident}-fake", "setting": "fakeanswer", "answerable": True,
                          "reference": q["fakeanswer"], "key_facts": [q["fakeanswer"]],
                          "docs": wrong + negative, "gold": wrong})  # fmt: skip
    return items


def _is_fact(fact: object) -> bool:
    """A key fact is text, or a list of the forms any one of which states it."""
    if isinstance(fact, list):
        return bool(fact) and all(isinstance(f, str) and f.strip() for f in fact)
    return isinstance(fact, str) and bool(fact.strip())


BUILTIN_DATASETS = ("seed", "rgb")
OPTIONAL_LISTS = ("key_facts", "evidence", "history")
OPTIONAL_TEXTS = ("reference", "kind", "split")
PROBLEMS_SHOWN = 5


def dataset_items(path: Path, max_question_chars: int = MAX_QUESTION_CHARS) -> list[dict[str, Any]]:
    """A user's question set in the eval/ format (see eval/README.md): only `question` and `answerable`
    are required. Every line is checked before any question is asked, so a typo on line 90 fails in a
    second, not after an hour; the error names the line and the fix. Questions and histories are
    checked as `Bot.ask` checks them (`max_question_chars` is the bot's limit)."""
    if path.suffix.lower() != ".jsonl":
        raise BotError(
            f"--dataset takes seed, rgb or a .jsonl file of questions; {path} is not one. See eval/README.md."
        )
    if not path.is_file():
        raise BotError(f"--dataset {path}: no such file.")
    try:
        lines = read_lines(path)
    except UnicodeDecodeError:
        raise BotError(f"--dataset {path} is not UTF-8 text: save it as UTF-8.") from None
    except OSError as err:
        raise BotError(f"--dataset {path} cannot be read: {err.strerror or err}.") from None
    items, problems = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(f"line {number} is not valid JSON ({err.msg})")
            continue
        problem = _item_problem(item, max_question_chars)
        if problem:
            problems.append(f"line {number}: {problem}")
            continue
        answerable = item["answerable"]
        kind = item.get("kind") or ("answerable" if answerable else "unanswerable")
        items.append({"id": str(item.get("id", f"line{number}")), "setting": kind,
                      "line": number, **{k: v for k, v in item.items() if k not in ("id", "setting")}})  # fmt: skip
    if problems:  # all at once (up to a screenful): one run finds every typo
        more = f" (and {len(problems) - PROBLEMS_SHOWN} more)" if len(problems) > PROBLEMS_SHOWN else ""
        raise BotError(
            f"{path} {'; '.join(problems[:PROBLEMS_SHOWN])}{more}. The format is in eval/README.md."
        )
    if not items:
        raise BotError(f"{path} holds no questions. The format is in eval/README.md.")
    return items


def _item_problem(item: object, max_question_chars: int) -> str | None:
    if not isinstance(item, dict):
        return "each line must be a JSON object"
    for key in ("question", "answerable"):
        if key not in item:
            typo = difflib.get_close_matches(key, [str(k) for k in item], n=1)
            return f'"{key}" is missing' + (
                f' ("{typo[0]}" is not a field: did you mean "{key}"?)' if typo else ""
            )
    question = item["question"]
    if not isinstance(question, str) or not question.strip():
        return '"question" must be non-empty text'
    if not isinstance(item["answerable"], bool):
        return '"answerable" must be true or false'
    for key in OPTIONAL_TEXTS:
        if not isinstance(item.get(key, ""), str):
            return f'"{key}" must be text'
    for key in OPTIONAL_LISTS:
        if not isinstance(item.get(key, []), list):
            return f'"{key}" must be a list'
    if not all(_is_fact(f) for f in item.get("key_facts", [])):
        return '"key_facts" must be a list of non-empty strings (or of lists of them: any one form counts)'
    if not all(isinstance(e, dict) and isinstance(e.get("source"), str) and isinstance(e.get("quote"), str)
               for e in item.get("evidence", [])):  # fmt: skip
        return '"evidence" must be a list of {"source": file name, "quote": verbatim text} objects'
    try:
        validate_input(question, item.get("history"), max_question_chars=max_question_chars)
    except BotError as err:
        return str(err)
    return None


def check_evidence(items: list[dict[str, Any]], bot: Bot, path: Path) -> None:
    """Each gold quote must be verbatim in its article in the bot's corpus; otherwise the retrieval
    metrics would silently count a miss for a typo."""
    for item in items:
        for e in item.get("evidence") or []:
            if e["source"] not in bot.index.texts:
                raise BotError(
                    f"{path} line {item['line']}: evidence source {e['source']!r} is not an article in "
                    f"{bot.settings.corpus}; pass the --corpus the set was written for."
                )
            if e["quote"] not in bot.index.article_text(e["source"]):
                raise BotError(
                    f"{path} line {item['line']}: the evidence quote is not verbatim in {e['source']}; "
                    "copy it exactly from the article."
                )


JUDGE_TOKENS = 2
JUDGE_FIRST_TOKEN_SECONDS, JUDGE_TOTAL_SECONDS = 120.0, 180.0  # generous: a verdict is 2 tokens


class Judge:
    """An LLM judge with prompts of its own (prompts/judge.j2, prompts/relevance.j2), separate from the
    pipeline's verifier: is the answer supported by the passages it cites, and does it address the
    question? `auto` uses Ollama when it answers, else the bundled model; `none` reports no judgement."""

    def __init__(self, bot: Bot, kind: str = "auto") -> None:
        from bot.backends import available_backends

        self.backend: Backend | None = None
        if kind in ("auto", "ollama"):
            ollama = OllamaBackend(bot.settings)
            try:
                ollama.check_quickly()
                self.backend = ollama
            except BotError:
                if kind == "ollama":
                    raise
        if self.backend is None and kind in ("auto", "embedded"):
            same = bot.backend.name == "embedded"  # share the loaded model: one copy in memory
            self.backend = bot.backend if same else available_backends()["embedded"](bot.settings)
        self.status = f"{self.backend.name} · {self.backend.model}" if self.backend else "none"
        self._lock = threading.Lock()

    def _yes(self, template: str, **variables: Any) -> bool | None:
        """The judge's verdict, or None (not judged: `judged_answers` counts the rest) with no judge or
        when it failed on this answer (too slow, Ollama gone): one lost verdict must not end a run of
        hundreds."""
        if self.backend is None:
            return None
        messages = [
            {"role": "system", "content": render("judge_system")},
            {"role": "user", "content": render(template, **variables)},
        ]
        with self._lock:
            # The context the answers ask for (Ollama reloads a model whose num_ctx changes)
            num_ctx = Bot.context_size(messages, JUDGE_TOKENS)
            try:
                reply = "".join(
                    with_deadlines(
                        self.backend.stream_chat(messages, max_tokens=JUDGE_TOKENS, num_ctx=num_ctx),
                        first_token=JUDGE_FIRST_TOKEN_SECONDS,
                        total=JUDGE_TOTAL_SECONDS,
                        label="the judge",
                        explain=self.backend.explain_silence,
                    )
                )
            except BotError:  # a Timeout too
                return None
        return reply.strip().lower().startswith("yes")

    def faithful(self, answer: Answer) -> bool | None:
        cited = {c.number for c in answer.citations}
        passages = [p for p in answer.passages if p.number in cited]
        return self._yes("judge", passages=passages, answer=strip_citations(answer.text))

    def relevant(self, answer: Answer) -> bool | None:
        return self._yes("relevance", question=answer.question, answer=strip_citations(answer.text))


def score_item(bot: Bot, item: dict[str, Any], judge: Judge) -> dict[str, Any]:
    """Score one item. The verifier's faithfulness is re-checked on the final text the user saw, by the
    grounder's rules alone (no model): a lower bound that is independent of the model's yes/no checks."""
    started = time.perf_counter()
    try:
        answer = bot.ask(item["question"], history=item.get("history") or None)
    except BotError as err:
        return {"id": item["id"], "setting": item["setting"], "question": item["question"], "error": str(err)}
    sources = list(bot.index.texts.values())
    rules = Grounder(bot.embedder, support_threshold=bot.settings.support_threshold,
                     topic_threshold=bot.settings.topic_threshold)  # fmt: skip
    check = rules.check(answer.rewritten_query, answer.passages, bot.index.texts)
    verifier = [] if answer.refused else [v.supported for v in rules.verify(answer.text, check)]
    answerable = item.get("answerable")
    key_facts = item.get("key_facts")
    gold_quotes = [e["quote"] for e in item.get("evidence") or []] or item.get("gold", [])
    gold_sources = [bot.index.article_text(e["source"]) for e in item.get("evidence") or []] or gold_quotes
    row: dict[str, Any] = {
        "id": item["id"], "setting": item["setting"], "split": item.get("split"), "question": item["question"],
        "answerable": answerable, "answer": answer.text, "refused": answer.refused,
        "extractive": answer.extractive, "draft": answer.draft, "rewritten_query": answer.rewritten_query,
        "citations": [{"source": c.source, "quote": c.quote} for c in answer.citations],
        "key_facts": key_facts_present(answer.text, key_facts) if answerable and key_facts else None,
        "token_f1": token_f1(answer.text, item["reference"]) if answerable and item.get("reference") else None,
        "faithfulness_verifier": faithfulness(verifier),
        "faithfulness_judge": None if answer.refused else judge.faithful(answer),
        "answer_relevance": None if answer.refused else judge.relevant(answer),
        "invented_facts": invented_facts(answer.text, sources) if not answer.refused else [],
        "citation_precision": citation_precision([c.quote for c in answer.citations], gold_sources or sources),
        "first_token": answer.timings.get("first_token"), "total": answer.timings["total"],
        "wall": time.perf_counter() - started,
    }  # fmt: skip
    row.update(retrieval_scores([p.text for p in answer.passages], gold_quotes))
    if answerable is not None:
        right_fact = not key_facts or (row["key_facts"] or 0) > 0
        row["passed"] = (row["refused"] is not answerable) and (not answerable or right_fact)
    return row


def summarize(rows: list[dict[str, Any]], judge: str) -> dict[str, Any]:
    """Metrics over `rows`; a metric no row can measure (say, key facts on a set without them) is None,
    "not applicable", never a zero."""

    def mean(key: str) -> float | None:
        return mean_of([r[key] for r in rows if r.get(key) is not None])

    ok = [r for r in rows if "error" not in r]
    judged = [r for r in ok if r.get("faithfulness_judge") is not None]
    summary: dict[str, Any] = {
        "items": len(rows), "errors": len(rows) - len(ok), "judge": judge,
        "hit_at_k": mean("hit"), "mrr": mean("rr"), "evidence_recall": mean("evidence_recall"),
        "key_facts": mean("key_facts"), "token_f1": mean("token_f1"),
        "faithfulness_verifier": mean("faithfulness_verifier"), "faithfulness_judge": mean("faithfulness_judge"),
        "answer_relevance": mean("answer_relevance"), "judged_answers": len(judged),
        "invented_facts_per_answer": mean_of([len(r["invented_facts"]) for r in ok]),
        "citation_precision": mean("citation_precision"), "pass_rate": mean("passed"),
        **refusal_scores([(not r["answerable"], r["refused"]) for r in ok if r["answerable"] is not None]),
        "latency_first_token_p50": percentile([r["first_token"] for r in ok if r["first_token"]], 0.5),
        "latency_first_token_p95": percentile([r["first_token"] for r in ok if r["first_token"]], 0.95),
        "latency_total_p50": percentile([r["total"] for r in ok], 0.5),
        "latency_total_p95": percentile([r["total"] for r in ok], 0.95),
    }  # fmt: skip
    settings = sorted({r["setting"] for r in rows})
    if len(settings) > 1 and all(r.get("passed") is not None for r in ok):
        summary["by_setting"] = {s: {"items": sum(r["setting"] == s for r in ok),
                                     "pass_rate": mean_of([r["passed"] for r in ok if r["setting"] == s])}
                                 for s in settings}  # fmt: skip
    return summary


def mean_of(values: list[Any]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


# What `--min` can set a floor on: every measure of the summary (an empty run measures none of them).
METRICS = tuple(key for key, value in summarize([], "none").items() if value is None)


SPLITS = ("calibrate", "report")


def run_eval(
    bot: Bot,
    dataset: str,
    *,
    rgb_path: Path | None,
    limit: int | None,
    jobs: int,
    out_dir: Path,
    judge: str = "auto",
    split: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run a question set through `Bot.ask`: `seed`, `rgb`, or the path of a user's .jsonl set (checked
    whole before the first question). The seed set has two halves: thresholds are calibrated on
    `calibrate` and results are reported on `report`; the summary gives both (`split` runs one)."""
    custom = None if dataset in BUILTIN_DATASETS else Path(dataset)
    if custom is not None:
        listed = dataset_items(custom, bot.settings.max_question_chars)
    else:
        listed = list(seed_items()) if dataset == "seed" else []  # RGB's are built below, with their corpora
    if dataset != "rgb":  # RGB brings a corpus per item
        bot.check_filters()  # an empty corpus is one error, not an error per item
    if custom is not None:
        check_evidence(listed, bot, custom)
    seed_sources = {e["source"] for i in listed for e in i.get("evidence", [])} if dataset == "seed" else ()
    if not all(name in bot.index.texts for name in seed_sources):
        raise BotError(
            f"The seed set asks about the bundled seeds/ articles, which are not in {bot.settings.corpus}: "
            "drop --corpus, or give your own questions with --dataset FILE.jsonl (bot eval generate drafts them)."
        )
    the_judge = Judge(bot, judge)
    with tempfile.TemporaryDirectory(prefix="bot-eval-") as scratch:
        if custom is not None or dataset == "seed":
            items = [i for i in listed if split is None or i.get("split") == split]
            if not items:
                raise BotError(f'No item of {dataset} has "split": "{split}".')
            work = [(bot, item) for item in items[:limit]]
        else:
            items = rgb_items(rgb_path or RGB_PATH)
            items = items[: limit * 3] if limit else items
            work = [
                (_corpus_bot(bot, item, Path(scratch)), item) for item in tqdm(items, desc="Building corpora")
            ]
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(score_item, b, item, the_judge) for b, item in work]
            rows = [f.result() for f in tqdm(futures, desc=f"Evaluating {custom or dataset}", unit="item")]
    name = re.sub(r"[^\w.-]+", "_", custom.stem) if custom is not None else dataset
    run = _new_folder(out_dir, f"{time.strftime('%Y%m%d-%H%M%S')}-{name}")
    (run / "results.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    summary = summarize(rows, the_judge.status)
    halves = {h: [r for r in rows if r.get("split") == h] for h in SPLITS}
    if all(halves.values()):
        summary["by_split"] = {h: summarize(part, the_judge.status) for h, part in halves.items()}
    summary.update(dataset=dataset, split=split or "all", backend=bot.backend.name, model=bot.backend.model)
    (run / "summary.json").write_text(json.dumps(summary, indent=2))
    (run / "report.html").write_text(report_html(summary, rows))
    return run, summary


def _new_folder(parent: Path, name: str) -> Path:
    """`parent/name`, or `name-2`, `-3`, … when a run of the same set that ended in the same second has it."""
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in itertools.count(1):
        folder = parent / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def _corpus_bot(bot: Bot, item: dict[str, Any], scratch: Path) -> Bot:
    """An RGB item's own small corpus: its snippets as articles, served by the already-loaded models."""
    folder = scratch / item["id"]
    (folder / "corpus").mkdir(parents=True)
    for i, doc in enumerate(item["docs"]):
        (folder / "corpus" / f"doc{i:02d}.txt").write_text(doc)
    return bot.for_corpus(folder / "corpus", folder / "data")


def read_summary(run: Path) -> dict[str, Any]:
    """An earlier run's summary.json, for `--compare`; read before the bot loads, so a wrong folder fails
    in a second, not after the run."""
    path = run / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BotError(f"--compare {run} holds no summary.json: give the folder of an earlier run.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BotError(f"--compare {path} cannot be read as a run's summary ({err}).") from None
    if not isinstance(summary, dict):
        raise BotError(f"--compare {path} is not a run's summary (a JSON object of metrics).")
    return summary


def compare(summary: dict[str, Any], before: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in summary.items():
        old = before.get(key)
        if isinstance(value, (int, float)) and isinstance(old, (int, float)):
            lines.append(f"{key:28} {old:>9.4f} -> {value:>9.4f}  ({value - old:+.4f})")
    return lines


def na(value: object) -> str:
    """A metric an item cannot measure is "n/a", never a zero."""
    return "n/a" if value is None else html.escape(str(value))


def report_html(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    metrics = {k: v for k, v in summary.items() if isinstance(v, float) and not k.startswith("latency")}
    bars = "".join(
        f"<rect x='180' y='{i * 24}' width='{max(0.0, v) * 400:.0f}' height='18' fill='#4f81bd'/>"
        f"<text x='0' y='{i * 24 + 14}'>{html.escape(k)}</text><text x='{185 + max(0.0, v) * 400:.0f}' y='{i * 24 + 14}'>{v:.2f}</text>"
        for i, (k, v) in enumerate(metrics.items())
    )
    totals = [r["total"] for r in rows if "total" in r]
    hist = ""
    if totals:
        top = max(totals) or 1.0
        bins = [0] * 10
        for t in totals:
            bins[min(9, int(t / top * 10))] += 1
        hist = "".join(
            f"<rect x='{i * 42}' y='{150 - c / max(bins) * 140:.0f}' width='38' height='{c / max(bins) * 140:.0f}' fill='#c0504d'/>"
            f"<text x='{i * 42}' y='168' font-size='10'>{top * i / 10:.0f}s</text>"
            for i, c in enumerate(bins)
        )
    ordered = sorted(rows, key=lambda r: bool(r.get("passed")))
    table = "".join(
        f"<tr class='{'ok' if r.get('passed') else 'fail'}'><td>{html.escape(r['id'])}</td><td>{html.escape(r['question'])}</td>"
        f"<td>{html.escape(r.get('answer', r.get('error', '')))}</td><td>{r.get('refused')}</td>"
        f"<td>{na(r.get('key_facts'))}</td><td>{na(r.get('faithfulness_verifier'))}</td><td>{', '.join(r.get('invented_facts', []))}</td>"
        f"<td>{r.get('total', 0):.1f}</td></tr>"
        for r in ordered
    )
    return f"""<!doctype html><meta charset="utf-8"><title>Eval report</title>
<style>body{{font-family:sans-serif;margin:2em}} td{{border-top:1px solid #ddd;padding:4px;vertical-align:top}}
tr.fail td:first-child{{border-left:4px solid #c0504d}} tr.ok td:first-child{{border-left:4px solid #9bbb59}}</style>
<h1>Eval: {html.escape(str(summary.get("dataset")))} · {html.escape(str(summary.get("backend")))} · {html.escape(str(summary.get("model")))}</h1>
<p>judge: {html.escape(summary["judge"])} · items: {summary["items"]} · errors: {summary["errors"]}</p>
<h2>Metrics</h2><svg width="700" height="{len(metrics) * 24}">{bars}</svg>
<p>Not applicable to this set (n/a): {html.escape(", ".join(k for k, v in summary.items() if v is None) or "none")}</p>
<h2>Latency (total seconds)</h2><svg width="440" height="175">{hist}</svg>
<h2>Items (failures first)</h2><table><tr><th>id</th><th>question</th><th>answer</th><th>refused</th><th>key facts</th>
<th>faithful (verifier)</th><th>invented</th><th>s</th></tr>{table}</table>
<pre>{html.escape(json.dumps(summary, indent=2))}</pre>"""
