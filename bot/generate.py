"""`bot eval generate`: draft an eval set from any corpus with the loaded model, for a person to review.

The model only writes questions; rules pick what they are checked against. An answerable item starts
from a sentence of an indexed passage and one checkable fact in it (a number, a date or a name): the
sentence is the gold quote, the fact the key fact, and the model writes the question that the fact
answers (answer-aware question writing: far easier for a 1.5B model than inventing question, answer
and quote at once). The item is kept only if the quote is verbatim in its passage, the key fact verbatim
in the quote, the question does not give the answer away, and the model agrees the sentence answers it.
Unanswerable items are questions on other topics (facts not in the corpus), kept only if the model finds
no answer in the passages the bot retrieves for them, and questions about a passage's events that ask for
a kind of detail its article never gives (an amount of money, a percentage, …: on topic, not given), kept
only if they ask for it and no article the bot retrieves passages from mentions that kind of detail at
all. That check is a rule, not the model's yes/no: the 1.5B model says "yes, answered" to most on-topic
questions. Near-duplicates are dropped and every item is marked `generated: true`: a draft, not a gold
set, until a person has read it.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from tqdm import tqdm

from bot.articles import article_sentences
from bot.claims import MONTH_NAMES, content_words, names_in
from bot.core import Bot
from bot.errors import BotError, Timeout
from bot.index import StoredPassage

SYSTEM_PROMPT = "generate_system"
ANSWERABLE_SHARE = 0.7  # the rest is split between off-topic and on-topic-not-given questions
TRIES_PER_ITEM = 3  # candidates tried per wanted item before giving up on the kind
QUESTION_TOKENS = 60
MAX_QUESTION_CHARS = 200
MIN_SHARED_WORDS = 2  # content words a question must share with its sentence or passage (on topic)
DUPLICATE_COSINE = 0.9  # questions at least this close in meaning count as one
UNANSWERABLE_CONTEXT = 2  # retrieved passages the model reads to confirm there is no answer
META_WORDS = re.compile(r"\b(?:passage|article|sentence|text|excerpt|author)s?\b", re.I)
# Off-topic subjects for "facts not in the corpus"; a question that lands on topic anyway is dropped by
# the retrieval check.
OFF_TOPICS = (
    "a football match", "a scientific discovery", "the weather", "a company's earnings", "a new medicine",
    "a music album", "a space mission", "a film release", "a train line", "a university", "a museum",
    "a tennis tournament", "a cooking competition", "a smartphone launch", "an art auction",
)  # fmt: skip


class Detail(NamedTuple):
    """A detail a news story often leaves out: how a question asks for one, and what any mention of one
    looks like. A question that asks for one is unanswered by passages that hold no such mention at all."""

    name: str
    asks: re.Pattern[str]
    mention: re.Pattern[str]


ABSENT_DETAILS = (
    Detail("an amount of money",
           re.compile(r"\bhow much\b|\b(?:cost|costs|spend|spent|pay|paid|price|worth|budget)\b", re.I),
           re.compile(r"[$€£¥₩]|\b(?:dollars?|euros?|pounds sterling|yen|rubles?|roubles?|yuan)\b", re.I)),
    Detail("a percentage",
           re.compile(r"\bpercent(?:age)?\b|\bper cent\b|\bproportion\b|\bshare\b", re.I),
           re.compile(r"%|\bper ?cent\b", re.I)),
    Detail("a distance",
           re.compile(r"\bhow far\b|\bdistance\b|\b(?:miles|kilomet(?:er|re)s)\b", re.I),
           re.compile(r"\b(?:km|kilomet(?:er|re)s?|miles?)\b", re.I)),
    Detail("a person's age",
           re.compile(r"\bhow old\b|\bage\b", re.I),
           re.compile(r"\byears? old\b|\baged \d|\b\d{1,3}-year-old\b", re.I)),
    Detail("a time of day",
           re.compile(r"\bwhat time\b|\btime of day\b", re.I),
           re.compile(r"\b\d{1,2}(?::\d\d)?\s*(?:a\.m\.|p\.m\.|am|pm)\b|\bo[’']clock\b", re.I)),
)  # fmt: skip

_MONTH = rf"(?:{MONTH_NAMES})"
FACT_PATTERNS = (  # most checkable first: a date, then a number, then a name
    re.compile(
        rf"\b{_MONTH}\s+\d{{1,2}}(?:,\s*\d{{4}})?\b|\b\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?\b|\b{_MONTH}\s+\d{{4}}\b"
    ),
    re.compile(
        r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:\s+(?:thousand|million|billion|trillion|percent))?(?![\w])|\b\d+%"
        r"|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|twice|thrice|dozens?)\b"
    ),
    NAME_PATTERN := re.compile(r"\b[A-Z][\w’'.-]*(?:\s+(?:of\s+)?[A-Z][\w’'.-]*)*"),
)
MAX_NAME_WORDS = 5
MAX_NAME_MENTIONS = 2
# Names that make poor answers: a lone demonym ("Ukrainian", "North Korean") or a compound ("U.S.-led").
WEAK_NAME = re.compile(r"^(?:\w+\s)?\w+(?:ian|ean|ese)$|\w-(?:[A-Z]|led\b|based\b|backed\b)")


@dataclass(frozen=True)
class Candidate:
    """A sentence of an indexed passage and one checkable fact in it."""

    passage: StoredPassage
    title: str
    sentence: str
    fact: str


def generate(bot: Bot, n: int, *, seed: int = 0, progress: bool = True) -> list[dict[str, Any]]:
    """About `n` items for a person to review (fewer when the corpus or the checks run out), answerable
    first. Deterministic for a given corpus, model and `seed`."""
    if n < 1:
        raise BotError("--n must be at least 1.")
    bot.check_filters()  # an empty corpus is one error
    passages = bot.index.passages()
    rng = random.Random(seed)
    answerable = round(n * ANSWERABLE_SHARE) if n > 1 else 1
    off_topic = (n - answerable) // 2
    wanted = {"answerable": answerable, "off_topic": off_topic, "not_given": n - answerable - off_topic}
    kept: list[dict[str, Any]] = []

    def is_new(question: str) -> bool:
        return not _duplicate(bot, question, [item["question"] for item in kept])

    with tqdm(total=n, desc="Writing questions", unit="item", disable=not progress) as bar:
        for kind, count in wanted.items():
            drafts = _drafts(bot, kind, passages, rng, count * TRIES_PER_ITEM, is_new)
            for item in itertools.islice(drafts, count):
                kept.append(item)
                bar.update()
    return [{"id": f"g{i:03d}", **item, "generated": True} for i, item in enumerate(kept, 1)]


def write_jsonl(items: list[dict[str, Any]], path: Path) -> None:
    """Written whole or not at all: a reader never finds half a set, nor an interrupted write in place of
    an earlier one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(
            "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8"
        )
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)  # left only by a failed write


def _drafts(
    bot: Bot,
    kind: str,
    passages: list[StoredPassage],
    rng: random.Random,
    tries: int,
    is_new: Callable[[str], bool],
) -> Iterator[dict[str, Any]]:
    """Checked items of one kind from at most `tries` drafts; a duplicate is dropped before the model's
    check is paid for. A draft the model took too long on is dropped like one that fails the checks: one
    slow draft must not lose the items kept so far."""

    def off_topic(topic: str) -> dict[str, Any] | None:
        question = _question(bot.write("generate_off_topic", system=SYSTEM_PROMPT,
                                       max_tokens=QUESTION_TOKENS, topic=topic))  # fmt: skip
        if question and is_new(question) and _unanswered(bot, question):
            return _unanswerable(question, "off_topic")
        return None

    def not_given(passage: StoredPassage) -> dict[str, Any] | None:
        article = bot.index.article_text(passage.source)
        absent = [d for d in rng.sample(ABSENT_DETAILS, len(ABSENT_DETAILS)) if not d.mention.search(article)]
        if not absent:
            return None
        detail = absent[0]
        question = _question(bot.write("generate_not_given", system=SYSTEM_PROMPT,
                                       max_tokens=QUESTION_TOKENS, passage=passage.text, detail=detail.name))  # fmt: skip
        if (
            question
            and detail.asks.search(question)
            and not META_WORDS.search(question)
            and len(content_words(question) & content_words(passage.text)) >= MIN_SHARED_WORDS
            and is_new(question)
            and _never_mentioned(bot, question, detail.mention)
        ):
            return _unanswerable(question, "not_given", passage)
        return None

    drafts: Iterator[Callable[[], dict[str, Any] | None]]
    if kind == "answerable":
        picked = itertools.islice(candidates_from(bot, passages, rng), tries)
        drafts = (functools.partial(_answerable, bot, candidate, is_new) for candidate in picked)
    elif kind == "off_topic":
        drafts = (functools.partial(off_topic, t) for t in rng.sample(OFF_TOPICS, len(OFF_TOPICS))[:tries])
    else:
        drafts = (functools.partial(not_given, p) for p in rng.sample(passages, min(tries, len(passages))))
    for draft in drafts:
        try:
            item = draft()
        except Timeout:
            continue
        if item:
            yield item


def candidates_from(bot: Bot, passages: list[StoredPassage], rng: random.Random) -> Iterator[Candidate]:
    """(sentence, fact) pairs in a random order that visits every sentence once before any sentence
    again, so a small --n spreads over the corpus. Each sentence lies wholly inside its passage."""
    per_sentence: list[list[Candidate]] = []
    seen: set[tuple[str, int]] = set()
    titles = {a.name: a.title for a in bot.articles}
    spans: dict[str, list[tuple[int, int]]] = {}  # each article split once, not once per passage
    for passage in passages:
        text = bot.index.article_text(passage.source)
        if passage.source not in spans:
            spans[passage.source] = article_sentences(text)
        for start, end in spans[passage.source]:
            if start < passage.start or end > passage.end or (passage.source, start) in seen:
                continue
            seen.add((passage.source, start))
            sentence = text[start:end]
            facts = facts_in(sentence, text)
            if facts:
                per_sentence.append(
                    [Candidate(passage, titles.get(passage.source, ""), sentence, f) for f in facts]
                )
    rng.shuffle(per_sentence)
    per_sentence.sort(
        key=lambda cs: NAME_PATTERN.fullmatch(cs[0].fact) is not None
    )  # numbers and dates first
    for round_ in range(max((len(c) for c in per_sentence), default=0)):
        for candidates in per_sentence:
            if round_ < len(candidates):
                yield candidates[round_]


def facts_in(sentence: str, article: str) -> list[str]:
    """Checkable facts of a sentence, most checkable first: dates, numbers, then names. A name counts
    only if `names_in` finds one (so "Analysts" opening a sentence is not one), it does not open the
    sentence alone, it has at most MAX_NAME_WORDS words, and the article names it at most
    MAX_NAME_MENTIONS times: the story's subject ("North Korea") answers nothing."""
    names = names_in(sentence, ordinary=article)
    facts: list[str] = []
    for pattern in FACT_PATTERNS:
        for match in pattern.finditer(sentence):
            fact = re.sub(r"[’']s$", "", match.group(0)).rstrip(".,")
            if pattern is NAME_PATTERN:
                words = fact.split()
                while words and words[0] not in names:
                    words.pop(0)
                fact = " ".join(words)
                if (
                    not fact
                    or (match.start() == 0 and len(words) == 1)
                    or len(words) > MAX_NAME_WORDS
                    or article.count(fact) > MAX_NAME_MENTIONS
                    or WEAK_NAME.search(fact)
                ):
                    continue
            if fact and not any(fact in f for f in facts):
                facts.append(fact)
    return facts


def _answerable(bot: Bot, c: Candidate, is_new: Callable[[str], bool]) -> dict[str, Any] | None:
    reply = bot.write("generate_question", system=SYSTEM_PROMPT, max_tokens=QUESTION_TOKENS,
                      title=c.title, sentence=c.sentence, answer=c.fact)  # fmt: skip
    question = _question(reply)
    if not question or not _answerable_checks(question, c) or not is_new(question):
        return None
    if not _model_says_yes(bot, evidence=c.sentence, question=question):
        return None
    return {
        "question": question, "answerable": True, "reference": c.fact, "key_facts": [c.fact],
        "evidence": [{"source": c.passage.source, "quote": c.sentence}],
        "passage": {"source": c.passage.source, "start": c.passage.start, "end": c.passage.end,
                    "text": c.passage.text},
    }  # fmt: skip


def _answerable_checks(question: str, c: Candidate) -> bool:
    """The rules an answerable draft must pass: quote verbatim in the gold passage, key fact verbatim
    in the quote, the answer not given away, no talk of "the passage", and on the sentence's subject."""
    return (
        c.sentence in c.passage.text
        and c.fact in c.sentence
        and c.fact.lower() not in question.lower()
        and not META_WORDS.search(question)
        and len(content_words(question) & content_words(c.sentence)) >= MIN_SHARED_WORDS
    )


def _unanswered(bot: Bot, question: str) -> bool:
    """The model reads what the bot would retrieve for the question and finds no answer there."""
    try:
        passages = bot.retrieve(question)[:UNANSWERABLE_CONTEXT]
    except BotError:
        return False
    evidence = "\n\n".join(p.text for p in passages)
    return _model_says_yes(bot, evidence=evidence, question=question) is False


def _never_mentioned(bot: Bot, question: str, mention: re.Pattern[str]) -> bool:
    """No article of a passage the bot retrieves for the question mentions the kind of detail it asks for."""
    try:
        passages = bot.retrieve(question)
    except BotError:
        return False
    return not any(mention.search(bot.index.article_text(p.source)) for p in passages)


def _model_says_yes(bot: Bot, *, evidence: str, question: str) -> bool | None:
    """Does `evidence` answer `question`? The model's yes/no at the grounder's own confidence cut
    (prompts/answers.j2, the check the bot itself makes); None when the model gives no verdict."""
    p_yes = bot.ask_model("answers", evidence=evidence, question=question)
    return None if p_yes is None else p_yes >= bot.settings.yes_threshold


def _unanswerable(question: str, kind: str, passage: StoredPassage | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"question": question, "answerable": False, "reference": "", "key_facts": [],
                            "kind": kind}  # fmt: skip
    if passage is not None:
        item["passage"] = {"source": passage.source, "start": passage.start, "end": passage.end,
                           "text": passage.text}  # fmt: skip
    return item


def _question(reply: str) -> str | None:
    """The first line of the reply, cleaned, if it is one plausible question."""
    line = next((ln for ln in reply.splitlines() if ln.strip()), "")
    line = re.sub(r"^\W*(?:question[^:]*:)?\s*", "", line.replace("*", ""), flags=re.I).strip(" \"'“”")
    if "?" not in line:
        return None
    line = line[: line.index("?") + 1]
    return line if 10 <= len(line) <= MAX_QUESTION_CHARS else None


def _duplicate(bot: Bot, question: str, seen: list[str]) -> bool:
    """Same words, or the same meaning (cosine of the bot's own sentence embeddings)."""
    key = " ".join(re.findall(r"\w+", question.lower()))
    if any(" ".join(re.findall(r"\w+", s.lower())) == key for s in seen):
        return True
    if not seen:
        return False
    vectors = bot.embedder.vectors([question, *seen])
    return bool((vectors[1:] @ vectors[0]).max() >= DUPLICATE_COSINE)
