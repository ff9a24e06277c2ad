"""Grounding: every rule that decides what may reach the user, owned by one object, `Grounder`.

Permissive before generation, strict after. Before the model is asked, a question is refused only in
clear cases: a name in it that no retrieved passage mentions (a false premise), or nothing on topic.
The model then answers from a few evidence sentences; its own "the articles don't say" is trusted.
After generation every sentence must be supported by one evidence sentence: same numbers, names in
the article, the same speaker for who-said-what, a source not made the doer of what it reports, no
flipped negation, and no added wording unless the model, asked a short yes/no question over the claim
and that one sentence, agrees it is stated (words the claim takes from the question count too:
restating the question is no evidence).
The supporting sentence becomes the citation's verbatim quote. What survives must answer the question
asked (the kind of thing asked for, from sentences that name its years, or name none in an article
dated in them, and give an office it asks about to the organisation it names), and the model must agree
it does; otherwise the best evidence sentence, if whole and passing the same checks, is quoted, or the
bot refuses.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from bot.answer import ALL_ARTICLES, UNSUPPORTED_MARK, Citation, Passage
from bot.articles import article_sentences
from bot.claims import (
    DAY_NUMBER,
    EVENT_VERBS,
    MONTH_NAMES,
    MONTH_SHORT,
    OCCASION_WORDS,
    OFFICES,
    OPPOSITES,
    PEOPLE_NOUNS,
    cited_numbers,
    clean_word,
    contains_name,
    content_words,
    counted_nouns,
    counts,
    is_counted_noun,
    names_in,
    number_spans,
    numbers_in,
    split_sentences,
    strip_citations,
)
from bot.embedding import Embedder


def refusal_text(articles: str = ALL_ARTICLES, unknown: list[str] | None = None) -> str:
    """The refusal, naming what the question asks about that no article mentions, and which articles were
    searched when filters narrowed them ("The articles dated 2021-01-01 to 2021-12-31 (undated ones left
    out) don't say …"): a name that is in the archive but outside the filters would otherwise seem
    missing from it."""
    about = f" anything about {', '.join(unknown)}" if unknown else ""
    return f"{articles} don't say{about}."


REFUSAL = refusal_text()

# Asks the model a yes/no question rendered from a prompt template; None when it gave no clear answer.
YesNo = Callable[..., float | None]  # template, variables -> P(yes), None if unclear
# (passages, [(article, window text)]) -> each window's vector stored at ingest, None if not stored.
StoredVectors = Callable[[list[Passage], list[tuple[str, str]]], list[np.ndarray | None]]

EVIDENCE_FOR_PROMPT = 3  # best evidence sentences shown to the model (each with its neighbours)
PROMPT_CHAR_BUDGET = 800  # ~180 tokens of excerpts: prefill time is most of the time to first token
SUPPORT_CANDIDATES = 3  # evidence sentences tried per claim, best similarity first (shown ones first)
NAMED_CANDIDATES = 2  # further sentences tried per claim because they name all that it names
# Evidence of the type the question asks for (a number for "how many") ranks higher; a sentence about
# another year than the one asked ranks lower. Sentences that restate the question are otherwise the
# closest in meaning, and the answer sentence falls out of the excerpts (eval/HISTORY.md, 2026-12-01).
KIND_BONUS = 0.3
OTHER_YEAR_PENALTY = 0.3
DUPLICATE_OVERLAP = 0.8  # share of content words two answer sentences share before one is a repeat
NEGATION_MARGIN = 0.12  # a negated sentence this close to the best match contradicts the claim
NEGATION_WINDOW = 4  # words after "not" that it negates ("has not yet achieved the range")
FRAGMENT_WORDS = 6  # answers shorter than this are compared with evidence together with their question
STEM_CHARS = 5  # words sharing this many first letters share a stem ("deploy", "deployment")
ARTICLES_CACHED = 32  # articles whose sentence split is kept: a few questions' worth of retrieved passages
QUESTIONS_CACHED = 64  # questions whose office patterns and asked events are kept
PASSAGES_CACHED = 64  # passages whose word positions are kept: a few questions' worth of retrieved passages
ANY_TEXT = " "  # for names_in: no word is known to be common, so a capitalised first word counts

_MODEL_REFUSAL = re.compile(
    r"\b(?:articles?|passages?|sources?|context|text|excerpts?)\b[^.]*\b(?:do(?:es)?n[o’']?t|do(?:es)? not|never)\s+"
    r"(?:say|mention|state|specify|provide|contain|include|answer)|\bno (?:information|mention)\b|"
    r"\bnot (?:mentioned|stated|specified|provided)\b|^\s*the articles don[’']t say",
    re.IGNORECASE,
)
_META_ONLY = re.compile(
    r"^(?:the|this|these|both)\s+(?:passages?|articles?|excerpts?|texts?|sources?)\s+"
    r"(?:is|are|was|were|discuss|describe|talk|focus|mention|provide|cover|deal|highlight|do not|does not)",
    re.I,
)
_WHICH = r"(?:(?:first|second|third|fourth|fifth|last|other)\s+)?"  # "the second article says"
# A list's marker at a line's start ("1. North Korea sent …"), which is no claim; a bare "2." answer stays.
_LIST_MARKER = re.compile(r"(?m)^[ \t]*(?:[-*•]|\d{1,2}[.)])[ \t]+(?=\S)")
_META_PREFIX = re.compile(
    rf"^(?:(?:according to|based on|as stated in|as mentioned in|in)\s+(?:the\s+)?{_WHICH}"
    r"(?:passages?|articles?|excerpts?|texts?|sources?)(?:\s*\[\d+\])?\s*,\s*|"
    rf"(?:the|this)\s+{_WHICH}(?:passages?|articles?|excerpts?|texts?)(?:\s*\[\d+\])?\s+"
    r"(?:(?:states?|says?|mentions?|notes?|explains?|reports?)\s+that|states?|says?)\s+|"
    r"the answer is\s*:?\s*|answer\s*:\s*)",
    re.I,
)
# "… engine failures, as stated in excerpt [1]." keeps the sentence and loses the tail
_META_SUFFIX = re.compile(
    r",?\s+(?:according to|based on|as (?:stated|mentioned|reported|noted) in)\s+(?:the\s+)?"
    r"(?:passages?|articles?|excerpts?|texts?|sources?)(?:\s*\[?\d+\]?)?(?=\s*(?:\[\d+\])?\s*[.!?]?\s*$)",
    re.I,
)
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|none|nobody|nothing|without|cannot)\b|n[’']t\b", re.I)
_NOT_ONLY = re.compile(r"\bnot only\b", re.I)
# In lower case: "States" in "the United States" is a name, not a speech verb
_SPEECH = re.compile(
    r"\b(?:said|says|say|stated|states|told|tells|confirm|confirmed|confirms|deny|denied|denies|announce|"
    r"announced|announces|explained|"
    r"explains|elaborates|elaborated|noted|notes|claimed|claims|warned|warns|highlighted|highlights|"
    r"suggested|suggests|indicated|indicates|reported|reports|added|believes|believed|[Aa]ccording to)\b"
)
# Where the clause before a speech verb starts, and the agent of a passive one ("… confirmed by Putin").
_SPEAKER_CLAUSE = re.compile(r".*(?:[,;:—“\"]|\bthat\b)", re.S)
_AGENT = re.compile(r"\s+by\s+((?:\S+\s*){1,5})")
# The source, up to the comma before its report: "According to the GUR, …"
_ACCORDING_TO = re.compile(r"\b[Aa]ccording to\s+([^,;]+)[,;]")
_SUBJECT = re.compile(r"^\W*(?:[Tt]he\s+)?([A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*)")  # "The GUR is …" -> GUR
# What a source may be said to do besides speaking: "The New York Times expects …", "GUR records show …"
_REPORTING = re.compile(
    r"\b(?:expect|predict|estimate|show|record|list)(?:s|ed|ing)?\b|\b(?:shown|finds?|found|analy[sz](?:is|es|ed|e))\b",
    re.I,
)
SOURCE_WORDS = 12  # "according to the Ukrainian Ministry of Defense's Main Intelligence Directorate (GUR)"
# A figure's bound, as the article writes it before the figure ("over 600,000", "approximately 1.2 million").
_BOUND = (
    r"(?:over|more than|at least|nearly|almost|about|approximately|around|roughly|up to|fewer than|less than)"
)
_BOUND_BEFORE = re.compile(rf"\b{_BOUND}\s+$", re.I)
# What only supposes: a condition or a modal ("If Russian forces can leverage …, it could …").
_HYPOTHETICAL = re.compile(
    r"\b(?:[Ii]f|[Ss]hould|[Uu]nless|could|may|might|would|likely|unlikely|possibly|potentially|perhaps|"
    r"expected|whether)\b"
)
_CONDITION_FIRST = re.compile(r"^\W*(?:If|Should|Unless)\b")
_CLAUSE_SPLIT = re.compile(r"[,;:]\s*|\s+(?:and|but|while|whereas|that|which)\s+")
_ORDINAL = re.compile(
    r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\d+(?:st|nd|rd|th))\b", re.I
)
_OFFICE_WORDS = {form for row in OFFICES for form in row}
_OFFICE_FORMS = "|".join(re.escape(f) for f in sorted(_OFFICE_WORDS, key=len, reverse=True))
# "Who is the president of Ukraine?", "What is the name of the head of Ukraine's intelligence agency?"
# (not "Who met the president of Ukraine?": that asks for someone else)
_OFFICE_QUESTION = re.compile(
    r"^\s*(?i:who(?:\s+is|\s+was|\s+will\s+be|\s+has\s+been|['’]s)|(?:what\s+is\s+)?the\s+name\s+of)\s+"
    rf"(?:the\s+)?(?:(?i:new|current|present)\s+)?(?P<office>(?i:{_OFFICE_FORMS}))\s+of\s+(?:the\s+)?"
    r"(?P<org>[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*)"
)
# what an article calls the organisation it is about: "the company's chief executive", "Union president …"
_ORG_NOUNS = "company|firm|group|union|city|council|party|agency|bank|government|ministry|board"
_NOT_NOW = r"(?<!(?i:former)\s)(?<!(?i:ex)-)"  # "the former president of FIFA" holds it no longer
# A name right after a preposition of direction or place: "… delivered 13,000 containers … to Russia".
# "to Russia", and "to aid Russia": help goes one way as goods do (not "to meet", "to face": both ways)
_DIRECTED = re.compile(
    r"\b(to|from|into|in)\s+(?:(?<=\bto\s)(?:aid|help|support|assist|arm|supply|back)\s+)?(?:the\s+)?"
    r"([A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*)"
)
# What "how many" asks about, up to a relative clause that only says who is meant: "About how many people
# serve in the military of the isolated regime that sent soldiers abroad?" counts no sending.
_COUNTED_CLAUSE = re.compile(
    r"\bhow (?:many|much)\b([^.?!]*?)(?:\b(?:that|which|who|whom|whose)\b|[.?!]|$)", re.I
)
# "Who won …?", "Which NBA team won …?", "What movie won …?": an event's verb right after the one asked for.
_ASKED_DOER = re.compile(
    r"\s*(?i:who|(?:which|what)(?:\s+[\w'’.-]+){1,3}?)\s+("
    + "|".join(sorted({form for forms in EVENT_VERBS for form in forms}, key=len, reverse=True))
    + r")\b"
)
# "What is the population of …?", "What was Tesla's revenue in Q1 2021?": the quantity a question asks
# the value of, the last lower-case word before "of", "in", … or the end.
_AFTER_ATTRIBUTE = "(?:of|for|in|at|on|to|from|by|among|that)"
_ASKED_ATTRIBUTE = re.compile(
    r"(?i:^\W*(?:what|which)(?:['’]s|\s+is|\s+was|\s+are|\s+were|\s+will\s+be|\s+has\s+been))\s+"
    rf"(?:(?i:the|an?)\s+)?(?:(?:(?!{_AFTER_ATTRIBUTE}\b)[\w.&-]+\s+){{0,3}}?[\w.&-]+['’]s\s+)?"
    rf"(?:[a-z]+\s+){{0,2}}?([a-z]+)(?=\s+{_AFTER_ATTRIBUTE}\b|\s*\?|\s*$)"
)
# Words for the kind of answer, not a quantity: "the release date of", "the number of", "the name of".
_ANSWER_NOUNS = frozenset({
    "date", "day", "year", "month", "time", "number", "name", "size", "amount", "total", "figure",
    "percentage", "share", "kind", "type", "title",
})  # fmt: skip
_LAST_SENTENCE = re.compile(r"(?<=[.?!])\s+")
_HOW_MANY = re.compile(r"\bhow many\s+((?:\S+\s+){0,4})", re.I)
_SPAN = re.compile(
    r"\bsince\s+\S|\b(?:decades?|years?|months?|weeks?|days?|centur(?:y|ies)|generations?)\b", re.I
)
_YEAR = re.compile(r"\b(?:1[89]|20)\d{2}\b")
# A whole sentence ends in . ! or ? (perhaps inside a quote or bracket); a snippet cut off with "..." does not.
_WHOLE_SENTENCE = re.compile(r"(?<![.…])[.!?][\"”’')\]]*$")
# … and begins with a capital or a figure, perhaps after a quote or bracket: "won best picture at …" is a
# snippet cut off at its start.
_SENTENCE_START = re.compile(r"^[\"“‘'(\[]?[A-Z0-9]")
# A headline's title case keeps its short words small ("… of the 2012 London Olympic Games"): they don't
# count as a sentence's words.
_TITLE_SMALL_WORDS = "a|an|and|as|at|but|by|for|from|in|into|nor|of|on|or|per|the|to|vs|via|with"
_UNTITLED_WORD = re.compile(rf"(?<![\w'’-])(?!(?:{_TITLE_SMALL_WORDS})\b)[a-z]")
_CUT_INITIAL = re.compile(r"(?<!\S)(\S+ [A-Z]\.)$")  # "the U." at the very end
_SPACED_ABBREVIATION = re.compile(r"\b([A-Z])\. (?=[A-Z]\.)")  # the model writes "U. S." for "U.S."
_MONTH = re.compile(MONTH_NAMES)
# A day of a month, US or British order, and its year if given: "Sep 20, 2019", "20th of September 2019".
_MONTH_WORD = rf"(?:{MONTH_NAMES}|(?:{MONTH_SHORT})\.?)"
_DATE = re.compile(
    rf"\b(?:(?P<month>{_MONTH_WORD})\s+(?P<day>{DAY_NUMBER})|(?P<day2>{DAY_NUMBER})\s+(?:of\s+)?"
    rf"(?P<month2>{_MONTH_WORD})(?!\w))(?P<year>,?\s+(?:1[89]|20)\d{{2}}\b)?"
)
_WEEKDAY = re.compile(r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day")
_DAY_OF_MONTH = re.compile(rf"\b(?:{MONTH_NAMES})\s+\d{{1,2}}\b|\b\d{{1,2}}\s+(?:{MONTH_NAMES})\b")
_TIME_WORDS = re.compile(
    rf"\b(?:{MONTH_NAMES}|(?i:yesterday|today|last (?:year|month|week))|\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+century)\b"
    r"|\bthe (?:[A-Z][\w-]+ )+War\b",  # "since the Korean War"
)
# Where an asking clause may start: a new sentence, after a comma ("According to CNN, when did…"), or after
# "and if so" ("Did they meet, and if so, how many times?").
_CLAUSE_START = re.compile(r"(?<=[.!?])\s+(?=[A-Z])|[,;:]\s*|(?i:\band if so\b)")
# "when did russia invade ukraine again": a question about what was or is that ends in "again" asks to be
# reminded, and the model took it for a second invasion. "When will they meet again?" and "Why did they
# attack again?" ask about a repeat and keep theirs.
_RECALL_AGAIN = re.compile(
    r"^(?=\W*(?:who|whom|whose|what|when|where|which|how)\b)"
    r"(?!.*\b(?:will|would|can|could|shall|should|may|might|must)\b)(.*?)[\s,]+again\s*([?.!]*)\s*$",
    re.I | re.S,
)
_HEDGE = re.compile(
    r"^\s*(?:(?:about|roughly|approximately|exactly|around|nearly|almost|just|precisely|so|and|but|then|also)\s+)+",
    re.I,
)
_LOWER_WORDS = re.compile(r"\b[a-z]+\b")  # not names: "Rose" is no verb
_ANY_WORD = re.compile(r"\b[A-Za-z]+\b")
_A_WORD = re.compile(r"[^\W\d_]{2}")  # "...", "—" or "5." alone is a stray fragment, not evidence
_SENTENCE_ENDS = (". ", "? ", "! ", "\n")
_NAME_RUN = re.compile(r"[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*")  # "Kim Jong-un", "Lloyd Austin"
# A place is named after a preposition of place: "met in Pyongyang", "deployed to the Kursk region".
_PLACE_RUN = re.compile(
    r"\b(?:in|at|near|to|into|from|inside|outside|within|across|throughout|around|toward|towards)\s+"
    r"(?:the\s+)?([A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*)"
)
_ASKED_PLACE = re.compile(r"\b(?:in|at|near|inside)\s+(?:the\s+)?([\w'’.-]+)", re.I)  # "in the Kursk region"
_POSSESSIVE = re.compile(r"['’]s?$")
_QUESTION_KINDS = (
    ("duration", re.compile(r"^\s*how long\b", re.I)),
    ("number", re.compile(r"^\s*(?:how (?:many|much|large|big|old|far|often)|what (?:number|percentage|share|is the (?:number|size))|how many times)\b", re.I)),
    # "What is the release date of …?" asks for a date as "When …?" does
    ("time", re.compile(r"^\s*(?:when|(?:in|on|since) what (?:year|date|month|day)|what (?:year|date|month|day)|since when|what(?:['’]s|\s+is|\s+was|\s+will\s+be)\s+the\s+(?:[\w-]+\s+){0,2}date)\b", re.I)),
    # "Who is Elena Vasquez?" asks what she is ("the mayor"), not for a name; "Who is the mayor?", "Who is
    # leading …?" and "Who was elected …?" do
    ("identity", re.compile(r"^\s*who(?:\s+is|\s+was|['’]s|s)\s+(?!(?:the|a|an|in|on|at|to|for|behind|responsible)\s|\w+(?:ing|ed)\b)", re.I)),
    ("person", re.compile(r"^\s*(?:who|whom|whose|which (?:person|official|leader|president|minister|analyst|expert|general|agency|organi[sz]ation|country|newspaper|outlet|journal))\b", re.I)),
    ("rank", re.compile(r"^\s*where (?:does|do|did|is|are|was|were)\b.*\b(?:rank|ranks|ranked|stand|stands)\b", re.I)),
    ("place", re.compile(r"^\s*(?:where|(?:in )?which (?:region|city|country|place|town|area|province)|what (?:region|city|country|place))\b", re.I)),
)  # fmt: skip


@dataclass(frozen=True)
class Evidence:
    """One sentence of a retrieved passage, located verbatim in its article."""

    passage: Passage
    quote: str
    start: int
    end: int

    def names_year(self, year: str) -> bool:
        """The sentence names the year, or names none and its article is dated in it: "Facebook CEO Mark
        Zuckerberg …" in an article of Nov 1, 2021 speaks of 2021."""
        return year in self.quote or (not _YEAR.search(self.quote) and year in (self.passage.date or ""))

    def citation(self) -> Citation:
        p = self.passage
        return Citation(
            number=p.number, source=p.source, title=p.title, quote=self.quote, start=self.start, end=self.end
        )


@dataclass
class Verdict:
    sentence: str
    evidence: Evidence | None
    similarity: float
    missing: list[str] = field(default_factory=list)  # why no evidence sentence supports it

    @property
    def supported(self) -> bool:
        return self.evidence is not None


@dataclass(frozen=True)
class Excerpt:
    """A run of consecutive evidence sentences shown to the model, numbered like its passage."""

    number: int
    title: str
    text: str


@dataclass
class Check:
    """What the passages can say about a question, decided before the model is asked."""

    question: str
    evidence: EvidenceSet
    ranked: list[tuple[Evidence, float]]
    shown: list[Evidence]  # the evidence sentences the model is given
    refusal: str | None  # the refusal text when the passages clearly cannot answer
    articles: str = ALL_ARTICLES  # which articles were searched, as a refusal names them

    @property
    def excerpts(self) -> list[Excerpt]:
        """The shown sentences merged into runs of consecutive sentences, per article."""
        runs: list[list[Evidence]] = []
        for ev in sorted(self.shown, key=lambda e: (e.passage.source, e.start)):
            if runs and ev in self.evidence.neighbours(runs[-1][-1]):
                runs[-1].append(ev)
            else:
                runs.append([ev])
        runs.sort(key=lambda run: min(e.passage.number for e in run))
        return [
            Excerpt(
                run[0].passage.number, run[0].passage.title, " ".join(" ".join(e.quote.split()) for e in run)
            )
            for run in runs
        ]


@dataclass
class Outcome:
    text: str
    refused: bool
    verdicts: list[Verdict]
    extractive: bool = False

    @property
    def citations(self) -> list[Citation]:
        """The evidence the answer rests on; a refusal rests on none, even when some draft sentences were
        supported before the draft as a whole failed."""
        if self.refused:
            return []
        seen: dict[tuple[str, int, int], Citation] = {}
        for v in self.verdicts:
            if v.evidence:
                c = v.evidence.citation()
                seen.setdefault((c.source, c.start, c.end), c)
        return list(seen.values())


def plain_question(question: str) -> str:
    """The question as asked, without a reminder's trailing "again" ("what's his name again?")."""
    return _RECALL_AGAIN.sub(r"\1\2", question)


def question_kind(question: str) -> str | None:
    """What the question asks for, read from its last clause that asks: "They were filmed training. Where
    was the camp?" asks for a place, and so do "According to CNN, where…" and "Roughly how many…"."""
    for part in (_HEDGE.sub("", p) for p in reversed(_CLAUSE_START.split(question.strip()))):
        if kind := next((kind for kind, pattern in _QUESTION_KINDS if pattern.search(part)), None):
            return kind
    return None


def answers_kind(text: str, question: str) -> bool:
    """Does `text` hold the type of thing the question asks for: a number for how many (not a day of a
    month or an ordinal, and one that counts the thing asked about where the text names it), a span or a
    start for how long ("for decades", "since the Cold War"), a time for when, a number or ordinal for
    where something ranks, a name for who and where (for where, named after "in", "at", "near", …:
    "North Korean" in "North Korean troops" is not a place)? The time or name must be one the question
    does not already give."""
    text = strip_citations(text)
    kind = question_kind(question)
    if kind == "number":
        counted = _ORDINAL.sub(" ", _DAY_OF_MONTH.sub(" ", text))
        if not numbers_in(counted):
            return False
        nouns = quantity_nouns(question)
        named = [n for n in nouns if n in content_words(text) or n == "time"]
        return any(counts(counted, n) for n in named) if named else not counts_other_thing(counted, question)
    if kind == "duration":
        return bool(numbers_in(text) or _SPAN.search(text))
    if kind == "time":  # a time the question does not give: "… at the 2020 Golden Globe Awards" is no date
        said = (re.escape(m.group(0)) for m in _TIME_WORDS.finditer(text))  # as written: "May", not "may"
        return any(not re.search(rf"(?<!\w){word}(?!\w)", question) for word in said)
    if kind == "rank":  # "Where does its army rank?": "fourth largest"
        return bool(numbers_in(text))
    if kind in ("person", "place"):
        # A new name, not more of one the question gives: "Kim Jong-un" does not answer "where did Kim go",
        # nor "the United States" "Who won the US election?"; a month or a weekday is no name.
        asked = question.lower()
        names = {
            n for n in names_in(text, ordinary=ANY_TEXT) if not (_MONTH.fullmatch(n) or _WEEKDAY.fullmatch(n))
        }
        # A bare answer is the place itself ("London, England"); in a sentence, one is named after "in", …
        bare = len(text.split()) < FRAGMENT_WORDS
        for run in (_PLACE_RUN if kind == "place" and not bare else _NAME_RUN).findall(text):
            parts = [w for w in (clean_word(w.rstrip(",;:")) for w in run.split()) if w in names]
            if (
                parts
                and not any(contains_name(asked, w) for w in parts)
                and not _written_as_initials(parts, question)
            ):
                return True
        return False
    return True


def _is_occasion(word: str) -> bool:
    """A generic word a title adds to an occasion's name, singular or plural ("Ceremonies")."""
    word = word.lower()
    singulars = {word, word.removesuffix("s"), word.removesuffix("es")}
    if word.endswith("ies"):
        singulars.add(word[:-3] + "y")
    return bool(singulars & OCCASION_WORDS)


def _written_as_initials(words: list[str], text: str) -> bool:
    """Does `text` write these words as their initials ("US" or "U.S." for United States)?"""
    return len(words) > 1 and re.search(rf"\b{'[.]?'.join(w[0] for w in words)}\b", text) is not None


def is_whole_sentence(text: str) -> bool:
    """Is `text` a sentence rather than a cut-off snippet or a headline? A headline ("The Walking Dead
    Season 11 Sets January 2023 Netflix Release Date.") has no word in lower case but small ones."""
    text = text.strip()
    return bool(
        _WHOLE_SENTENCE.search(text) and _SENTENCE_START.match(text) and _UNTITLED_WORD.search(text, 1)
    )


def fits(text: str, evidence: list[Evidence], question: str, named: set[str]) -> bool:
    """Could `text`, resting on `evidence`, answer the question? It holds the kind of thing asked for,
    its sentences name the years the question names (a sentence about 2021 does not answer "Who won in
    2022?", even in a passage that names 2022), give an office asked about to the organisation the
    question names, send nothing the other way round ("… North Korea has delivered … to Russia"
    does not answer "How many containers has Russia shipped to North Korea?"), and their passages do not
    say the opposite of the question ("Why did the council reject …?" on "… voted to approve …"). A figure
    for an event rests on a sentence that names the event (`names_event`), and one for a quantity on
    sentences naming the quantity (`names_attribute`), and one for a place on passages naming the place
    (`names_place`; `named` holds the names the retrieved passages use, in lower case)."""
    years = _YEAR.findall(question)
    quotes = " ".join(ev.quote for ev in evidence)
    return (
        answers_kind(text, question)
        and names_event(quotes, question)
        and names_attribute(text, quotes, question)
        and names_place(" ".join(ev.passage.text for ev in evidence), question, named)
        and all(ev.names_year(year) for ev in evidence for year in years)
        and holds_office(quotes, question, [(ev.quote, ev.passage.text) for ev in evidence])
        and not any(_swapped(question, ev.quote) or _opposite(question, ev.passage.text) for ev in evidence)
    )


def names_event(text: str, question: str) -> bool:
    """Does `text` name, in any of its forms, the event a "how many" question counts (`asked_events`)? "How
    many troops did North Korea send?" is not answered by "a military strength of approximately 1.2
    million personnel", which counts an army; "delivered" names a sending. A figure needs its event; other
    answers may imply theirs ("Norway collected 39 medals …, the largest haul" says which country won the
    most), so for them only a claim repeating the event is held to it (`unnamed_events`)."""
    events = asked_events(question) if question_kind(question) == "number" else ()
    return not events or any(forms & _lower_words(text) for forms in events)


def names_place(passages: str, question: str, named: set[str]) -> bool:
    """Do the passages a figure rests on name the place a "how many" question counts in? "How many
    Russian soldiers died in Kursk?" is not answered by "over 600,000 Russian soldiers have died" since
    the invasion, in a passage that never names Kursk. A place is a word after "in", "at", … that the
    retrieved passages write only as a name (`named`: "kursk"), not a possessive ("in Israel's strike")."""
    if question_kind(question) != "number":
        return True
    places = [
        clean_word(m.group(1)) for m in _ASKED_PLACE.finditer(question) if not _POSSESSIVE.search(m.group(1))
    ]
    return all(contains_name(passages.lower(), p) for p in places if p.lower() in named)


def names_attribute(text: str, quotes: str, question: str) -> bool:
    """A figure given for the quantity a question asks the value of (`asked_attribute`) rests on sentences
    naming that quantity: "The population of North Korea is approximately 1.2 million" does not rest on
    "a military force of 1.2 million personnel", nor "Tesla's revenue was $5 billion" on its profit. Where
    no figure is given ("What was his old job?"), the answer names a value, not the quantity, and this is
    silent."""
    asked = asked_attribute(question)
    if asked is None or not numbers_in(text) - numbers_in(question):
        return True
    return any(w[:STEM_CHARS] == asked[:STEM_CHARS] for w in _lower_words(quotes))


@lru_cache(maxsize=QUESTIONS_CACHED)
def asked_attribute(question: str) -> str | None:
    """The quantity whose value the question's last asking clause wants ("population" in "What is the
    population of North Korea?"), or None when it asks for a kind of answer ("What is the release date
    of …?") or in another form."""
    for part in reversed(_CLAUSE_START.split(question.strip())):
        if found := _ASKED_ATTRIBUTE.match(_HEDGE.sub("", part)):
            return None if found.group(1) in _ANSWER_NOUNS else found.group(1)
    return None


def unnamed_events(claim: str, quote: str, question: str) -> list[str]:
    """The asked event's words that the claim repeats ("won") where the sentence names the event in none of
    its forms: restating the question is no evidence, and the model's yes/no check, asked, often says yes
    to it ("Serena Williams won Wimbledon in 2019" on who played). A word of two events ("paid": buying,
    pay) is named by a form of either."""
    events = asked_events(question)
    said, written = _lower_words(claim), _lower_words(quote)
    named = {w for forms in events if forms & written for w in forms}
    return sorted({w for forms in events for w in forms & said} - named)


@lru_cache(maxsize=QUESTIONS_CACHED)
def asked_events(question: str) -> tuple[frozenset[str], ...]:
    """The events a question asks about, each as all its forms: the one "how many" counts, up to a relative
    clause ("About how many people serve in the military of the regime that sent soldiers abroad?" counts
    no sending), or the one whose doer "Who won …?", "Which company acquired …?" asks for. Only the asked
    verb counts: in "When did the war these soldiers were sent to fight in begin?" the sending only says
    which war. A word in a title ("The Walking Dead") names no event: only words in lower case count."""
    last = _LAST_SENTENCE.split(question.strip())[-1]  # "… Russia. How many shipping containers …?"
    counted = _COUNTED_CLAUSE.search(last) if question_kind(last) == "number" else None
    asked = counted or _ASKED_DOER.match(last)
    written = set(re.findall(r"\b[a-z]+\b", asked.group(1))) if asked else set()
    return tuple(forms for forms in EVENT_VERBS if forms & written)


def _lower_words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def unstated_figures(claim: str, ev: Evidence, question: str) -> list[str]:
    """The claim's numbers that the evidence sentence does not give. A year the question names may come
    from the article's date: "The company's chief executive, Sandra Lee, said …" in an article of Apr 26,
    2021 gives the 2021 of "Sandra Lee is the CEO of Brightline in 2021"."""
    asked_years = {float(y) for y in _YEAR.findall(question)}
    return [
        f"{n:g}"
        for n in numbers_in(claim) - numbers_in(ev.quote)
        if not (n in asked_years and ev.names_year(f"{n:g}"))
    ]


def holds_office(text: str, question: str, in_passages: list[tuple[str, str]] | None = None) -> bool:
    """Does `text` give the office the question asks about to the organisation it names ("Ukrainian
    President …", "president of FIFA", "Google's chief executive"), or does one of `in_passages`' (quote,
    its passage) give it to the organisation the passage names ("its chief executive", "the company's
    CEO" in a passage about Google; "Union president" if the question asks about a union)? A president of
    Russia, of the NFL Players Association or a former president does not answer "Who is the president
    of …?". True when the question asks about no office."""
    patterns = _office_patterns(question)
    if patterns is None:
        return True
    named, of_org, referred, org = patterns
    return bool(
        named.search(text)
        or of_org.search(text)
        or any(referred.search(quote) and org.search(passage) for quote, passage in in_passages or [])
    )


@lru_cache(maxsize=QUESTIONS_CACHED)
def _office_patterns(question: str) -> tuple[re.Pattern[str], ...] | None:
    """The ways a text can give the office a question asks about to its organisation; None if it asks
    about no office. Built once per question: every claim and candidate quote is matched against them."""
    match = _OFFICE_QUESTION.search(question)
    if not match:
        return None
    asked = match.group("office").lower()
    forms = next(row for row in OFFICES if asked in row)
    office = "(?i:" + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)) + ")"
    words = [re.sub(r"['’]s$", "", w) for w in match.group("org").split()]
    # "Ukrainian" for Ukraine, "Directorate's" for Directorate; "U.S." for United States
    stems = [re.escape(w[:STEM_CHARS]) + r"[\w'’]*" if len(w) > STEM_CHARS else re.escape(w) for w in words]
    written = r"\s+".join(stems)
    if len(words) > 1:
        written = rf"(?:{written}|{'[.]?'.join(w[0] for w in words)}[.]?)"
    org = f"(?i:{written})"
    # "Union president" only for a union; "its", "the company's" for any organisation
    own_nouns = [w.lower() for w in words if w.lower() in _ORG_NOUNS.split("|")]
    referred = rf"its|the\s+(?:{_ORG_NOUNS})['’]s" + "".join(f"|{n}" for n in own_nouns)
    return (
        re.compile(rf"{_NOT_NOW}\b{org}(?:['’]s)?\s+{office}\b"),  # "Facebook CEO", "Ukraine's president"
        re.compile(
            rf"{_NOT_NOW}\b{office}\s+(?:[A-Z][\w'’.-]*\s+){{0,3}}of\s+(?:the\s+)?{org}(?![\w'’]*\s+[A-Z])"
        ),
        re.compile(rf"{_NOT_NOW}\b(?i:{referred})\s+{office}\b"),
        re.compile(rf"\b{written}\b"),  # as written: "us" is not "U.S."
    )


def quantity_nouns(question: str) -> list[str]:
    """What "how many X" counts: the first two ordinary words after it ("nuclear tests" -> nuclear, test)."""
    words = _how_many_words(question)[:2]
    return sorted(content_words(" ".join(words)) | ({"time"} if "times" in words else set()))


def _how_many_words(question: str) -> list[str]:
    """The ordinary (lower-case) words among the first few after "how many": names are not what it counts."""
    match = _HOW_MANY.search(question)
    return [w for w in match.group(1).split() if w[:1].islower()] if match else []


def counts_other_thing(text: str, question: str) -> bool:
    """Does `text`, which does not name the things "how many" asks about, count other things: "13,000
    containers" for "How many troops (or tanks) did North Korea send?" A number of people of one kind
    answers for another ("1.2 million personnel" for "how many ppl are in the army")."""
    asked = clean_word(next(iter(_how_many_words(question)), "")).lower().strip("?.,;:")
    counted = counted_nouns(text)
    if not counted or not is_counted_noun(asked):
        return False
    return not (asked in PEOPLE_NOUNS and counted & PEOPLE_NOUNS)


def is_model_refusal(text: str) -> bool:
    return bool(_MODEL_REFUSAL.search(text.strip()))


def clean_sentence(sentence: str) -> str:
    """Drop "According to the passages,", "The article states that" and ", as stated in excerpt [1]"; the
    sentence itself stays."""
    cleaned = _META_PREFIX.sub("", _SPACED_ABBREVIATION.sub(r"\1.", sentence.strip())).strip()
    cleaned = _META_SUFFIX.sub("", cleaned)
    if cleaned.startswith("(") and cleaned.endswith(")"):
        cleaned = cleaned[1:-1]
    return cleaned[:1].upper() + cleaned[1:]


def _negated_words(text: str) -> set[str]:
    """Content words within three words after a negation ("has not engaged in conflict" -> engag, conflict)."""
    text = _NOT_ONLY.sub(" ", strip_citations(text))
    words: set[str] = set()
    for match in _NEGATION.finditer(text):
        following = [w for w in text[match.end() :].split()[:NEGATION_WINDOW] if w[:1].islower()]  # not names
        words |= content_words(" ".join(following))
    return words


def _speakers(text: str) -> set[str]:
    """Who says something: the names in the clause before a speech verb ("In Rome, Lloyd Austin confirmed
    …" -> Lloyd, Austin), after "by" right behind it ("… confirmed by Vladimir Putin"), or after
    "according to" up to the next comma."""
    text = strip_citations(text)
    found: set[str] = set()
    for match in _SPEECH.finditer(text):
        if match.group(0).lower() == "according to":
            source = text[match.end() :].split(",")[0].split()[:SOURCE_WORDS]
            found |= names_in(" ".join(source), ordinary=ANY_TEXT)
            continue
        before = text[: match.start()]
        found |= names_in(_SPEAKER_CLAUSE.sub("", before), ordinary=ANY_TEXT)
        if by := _AGENT.match(text, match.end()):
            found |= names_in(by.group(1), ordinary=ANY_TEXT)
    return found


def _same_speaker(speakers: set[str], quote: str, article: str) -> bool:
    """Does the quote give a claim's words to the claim's `speakers`? "Carl Schuster said" is matched by
    "Schuster elaborates", and "The Russian president stated" by "Putin stated" where the article calls
    him "Russian President Vladimir Putin"; "Russia confirmed" is not by "Lloyd Austin confirmed that North
    Korea has dispatched troops to Russia". A quote that names no one before its own speech verb
    ("Officials said") need only name the speaker somewhere."""
    if not speakers:
        return True
    if not (said_by := _speakers(quote)):
        return any(contains_name(quote.lower(), s) for s in speakers)
    known_as = {w for run in _name_runs(article) if run & said_by for w in run}
    return any(_same_name(s, t) for s in speakers for t in said_by | known_as)


@lru_cache(maxsize=PASSAGES_CACHED)
def _name_runs(article: str) -> list[set[str]]:
    return [set(map(clean_word, run.split())) for run in _NAME_RUN.findall(article)]


def _directions(text: str) -> list[tuple[str, str, str]]:
    """(name, preposition, name) for each name right after "to" (or "to" and a verb of help: "to aid"),
    "from", "into" or "in", with the nearest name before it: "North Korea has delivered … missiles to Russia" and
    "North Korea … has sent troops to aid Russia" -> (North Korea, to, Russia)."""
    text = strip_citations(text)
    found = []
    for match in _DIRECTED.finditer(text):
        name, following = match.group(2).rstrip("."), text[match.end() :].split()[:1]
        if re.search(r"['’]s$", name) or (
            following and content_words(following[0]) and following[0].islower()
        ):
            continue  # not where something goes: "in Russia's military", "in the Ukraine war"
        if before := _NAME_RUN.findall(text[: match.start()]):
            found.append((before[-1], match.group(1).lower(), name))
    return found


def _stated_as_certain(claim: str, quote: str, question: str) -> bool:
    """The claim states as fact what its evidence only supposes: "North Korean troops are fighting in
    Donetsk" on "If Russian forces can leverage North Korean special troops to turn the tide, it could …
    break through … in Donetsk". What counts is a condition that opens the sentence, or a hedge before
    some of the claim's words in the clause the claim draws on most: "Kim is providing troops to acquire
    resources" rests on "I believe Kim is providing troops to acquire resources … and to gain experience
    that he might apply if …". A claim or question that keeps a hedge ("Where could Russia break
    through?") is not stating it as fact."""
    if _HYPOTHETICAL.search(strip_citations(claim)) or _HYPOTHETICAL.search(question):
        return False
    if _CONDITION_FIRST.search(quote):
        return True
    words = content_words(claim)
    clauses = _CLAUSE_SPLIT.split(quote)
    overlaps = [len(words & content_words(c)) for c in clauses]
    best = max(overlaps, default=0)
    return best > 0 and all(_hedges(c, words) for c, o in zip(clauses, overlaps, strict=True) if o == best)


def _hedges(clause: str, words: set[str]) -> bool:
    """Does a hedge in the clause govern some of the claim's words, written after it? "Facebook CEO Mark
    Zuckerberg should step down" still says who the CEO is."""
    hedge = _HYPOTHETICAL.search(clause)
    return hedge is not None and bool(words & content_words(clause[hedge.end() :]))


def _same_name(a: str, b: str) -> bool:
    return contains_name(a.lower(), b) or contains_name(b.lower(), a)  # "Russian" and "Russia"


def _swapped(claim: str, quote: str) -> bool:
    """The claim sends something the other way round from its evidence sentence: "Russia has delivered
    13,000 containers to North Korea" against "North Korea has delivered … to Russia". Every word is the
    same, so neither meaning similarity nor word checks see it."""
    said = _directions(quote)
    return any(
        any(p == q and _same_name(a, d) and _same_name(b, c) for c, q, d in said)
        and not any(p == q and _same_name(a, c) and _same_name(b, d) for c, q, d in said)
        for a, p, b in _directions(claim)
    )


def _source_as_actor(claim: str, quote: str, question: str) -> str | None:
    """A name the evidence gives only as the source of what it reports ("According to … Main Intelligence
    Directorate (GUR), the first contingent … in Kursk"), which the claim makes do something ("The GUR is
    in charge of the North Korean troops in Kursk": the name the claim opens with). A source tells only
    who says so: a claim about saying or reporting, or a question about saying, may name it."""
    claim = strip_citations(claim)
    if _SPEECH.search(claim) or _REPORTING.search(claim) or _SPEECH.search(question):
        return None
    sources = [s for s in _ACCORDING_TO.findall(quote) if len(s.split()) <= SOURCE_WORDS]
    if not sources or not (subject := _SUBJECT.match(claim)):
        return None
    source, rest, asked = " ".join(sources).lower(), _ACCORDING_TO.sub(" ", quote).lower(), question.lower()
    return next(
        (
            n for n in sorted(names_in(subject.group(1), ordinary=ANY_TEXT))
            if contains_name(source, n) and not contains_name(rest, n) and not contains_name(asked, n)
        ),
        None,
    )  # fmt: skip


def _opposite(statement: str, passage: str) -> str | None:
    """A word of `statement` whose opposite the evidence's passage uses while never using the word itself:
    "The council rejected the bridge funding" against "… voted 7 to 2 to approve $45 million …". Where the
    two words tell one event from both ends, turned-round names agree: "Who did Lakeside lose to?" fits
    "Riverside beat Lakeside", "Who did Riverside lose to?" does not. A negated statement is left to the
    negation rule ("was not approved" against "rejected")."""
    statement = strip_citations(statement)
    if _NEGATION.search(statement):
        return None
    said = {m.group(0): m.start() for m in _LOWER_WORDS.finditer(statement)}
    written = _word_positions(passage)
    for side, other, converse in OPPOSITES:
        word = next((w for w in said if w in side), None)
        opposites = [w for w in written if w in other]
        if word is None or not opposites or side & written.keys():
            continue
        if converse:
            # "Who won the final?" may be answered from "… lost to Riverside FC": no doer, no judgement
            doer = _name_near(statement, said[word], -1)
            done_to = {_name_near(passage, at, 1) for w in opposites for at in written[w]} - {""}
            if not doer or any(_same_name(doer, name) for name in done_to):
                continue
        return f"opposite: {word} / {opposites[0]}"
    return None


@lru_cache(maxsize=PASSAGES_CACHED)
def _word_positions(passage: str) -> dict[str, list[int]]:
    """Where each word (lower-cased) stands in a passage, indexed once: every claim of an answer and every
    candidate sentence of a claim is checked against the same few passages."""
    written: dict[str, list[int]] = {}
    for m in _ANY_WORD.finditer(passage):
        written.setdefault(m.group(0).lower(), []).append(m.start())
    return written


def _initials(text: str) -> set[str]:
    """The initials of every run of two or more capitalised words in `text` and of its sub-runs: "United
    Nations Security Council" gives UN, UNS, UNSC, NS, NSC, SC."""
    return {
        "".join(w[0] for w in words[i:j])
        for words in (run.split() for run in _NAME_RUN.findall(text))
        for i in range(len(words))
        for j in range(i + 2, len(words) + 1)
    }


def _name_near(text: str, position: int, direction: int) -> str:
    """The nearest name in the same sentence before (direction -1) or after (1) `position`: who did it,
    or to whom."""
    if direction < 0:
        start = max(text.rfind(end, 0, position) for end in _SENTENCE_ENDS) + 1
        runs = [m for m in _NAME_RUN.finditer(text, start, position) if names_in(m.group(0), ANY_TEXT)]
        return runs[-1].group(0) if runs else ""
    ends = [i for i in (text.find(end, position) for end in _SENTENCE_ENDS) if i >= 0]
    after = _NAME_RUN.finditer(text, position + 1, min(ends, default=len(text)))
    return next((m.group(0) for m in after if names_in(m.group(0), ANY_TEXT)), "")


def clause_windows(sentence: str) -> list[str]:
    """The sentence and its clauses (and pairs of adjacent ones): what a claim is compared with. The
    index stores a vector for each at ingest (bot/index.py evidence_windows)."""
    clauses = [c.strip() for c in re.split(r"[,;:]\s+|\s+[—–-]\s+", sentence) if len(c.strip()) > 12]
    windows = [sentence]
    if len(clauses) > 1:
        windows += clauses + [f"{a}, {b}" for a, b in zip(clauses, clauses[1:], strict=False)]
    return list(dict.fromkeys(windows))


@lru_cache(maxsize=ARTICLES_CACHED)
def _article_sentences(article: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Every sentence of an article, split once (questions keep retrieving the same articles), with the
    sentences' ends for bisecting."""
    spans = article_sentences(article)
    return [end for _, end in spans], spans


def passage_sentences(article: str, start: int, end: int, text: str) -> list[tuple[int, int]]:
    """(start, end) in `article` of every sentence that the passage `text` at [start, end) overlaps,
    whole: a passage cut inside a sentence still offers all of it, speaker included ("Carl Schuster …
    explained that …", not "Pacific Command … explained that …"). Nothing if the article changed since
    the passage was cut: its offsets mean nothing then."""
    if article[start:end] != text:
        return []
    ends, spans = _article_sentences(article)
    found, i = [], bisect_right(ends, start)
    while i < len(spans) and spans[i][0] < end:
        found.append(spans[i])
        i += 1
    return found


def evidence_sentences(article: str, start: int, end: int, text: str) -> list[tuple[int, int]]:
    """The passage's sentences that can be evidence, for the grounder and for the vectors stored at
    ingest alike: not a stray fragment (a snippet's "..."), and not the article's own question ("The
    question arises: …?"), which states nothing."""
    return [
        (s, e)
        for s, e in passage_sentences(article, start, end, text)
        if _A_WORD.search(article, s, e) and not article[s:e].rstrip('"”’)').endswith("?")
    ]


class EvidenceSet:
    """The sentences of the retrieved passages, embedded once per question (with their clauses, so a
    claim about part of a long sentence still finds it)."""

    def __init__(
        self,
        passages: list[Passage],
        article_texts: dict[str, str],
        embedder: Embedder,
        stored: StoredVectors | None = None,
    ) -> None:
        self.passages = passages
        self.embedder = embedder
        self.items: list[Evidence] = []
        windows: list[str] = []
        self._owner: list[int] = []
        seen: set[tuple[str, int]] = set()
        for p in passages:
            article = article_texts[p.source]
            for start, end in evidence_sentences(article, p.start, p.end, p.text):
                quote = article[start:end]
                if (p.source, start) in seen:
                    continue  # overlapping chunks repeat sentences; keep the best-ranked copy
                seen.add((p.source, start))
                self.items.append(Evidence(p, quote, start, end))
                for window in clause_windows(quote):
                    windows.append((p.source, window))
                    self._owner.append(len(self.items) - 1)
        self._window_vectors = self._vectors(windows, stored)
        self._articles = {p.source: article_texts[p.source] for p in passages}
        self._article_lower = {source: text.lower() for source, text in self._articles.items()}
        self._all_text = " ".join(p.text for p in passages)
        self._all_lower = self._all_text.lower()
        self._names: dict[str, set[str]] = {}

    def _vectors(self, windows: list[tuple[str, str]], stored: StoredVectors | None) -> np.ndarray:
        """The windows' vectors: those stored at ingest, and only the rest embedded now."""
        found = stored(self.passages, windows) if stored else [None] * len(windows)
        missing = [w for (_, w), v in zip(windows, found, strict=True) if v is None]
        fresh = iter(self.embedder.vectors(missing)) if missing else iter(())
        vectors = [v if v is not None else next(fresh) for v in found]
        return np.stack(vectors) if vectors else self.embedder.vectors([])

    def similarities(self, text: str) -> np.ndarray:
        """Per evidence sentence, the best cosine similarity of `text` to the sentence or one of its clauses."""
        best = np.full(len(self.items), -1.0, dtype=np.float32)
        if self.items:
            sims = self._window_vectors @ self.embedder.vectors([text])[0]
            np.maximum.at(best, np.asarray(self._owner, dtype=np.int64), sims)
        return best

    def unknown_names(self, question: str) -> list[str]:
        """Names in a question that no retrieved passage mentions: a premise the articles don't share. A
        name the passages give as its initials counts as mentioned ("United States" for "U.S."), and
        initials the passages spell out ("UN" for "United Nations Security Council"). A generic word a title
        adds ("Ceremony") need not be there when the rest of its name is."""
        # "" as the ordinary text: a question's first word ("Beyond …") is a name only if clearly one.
        names = names_in(question, "")
        unknown = {
            n for n in names if not contains_name(self._all_lower, n) and n.lower() not in _OFFICE_WORDS
        }  # "CEO" is an office, not a name
        if acronyms := {n for n in unknown if n.replace(".", "").isupper()}:
            spelled_out = _initials(self._all_text)
            unknown -= {n for n in acronyms if n.replace(".", "") in spelled_out}
        for run in _NAME_RUN.findall(question):
            words = [clean_word(w) for w in run.split()]
            if _written_as_initials(run.split(), self._all_text):
                unknown -= set(words)
                continue
            # "92nd Academy Awards Ceremony": the awards are named, so "Ceremony" need not be
            rest = {w for w in words if w in names and not _is_occasion(w) and w.lower() not in _OFFICE_WORDS}
            if rest and not rest & unknown:
                unknown -= {w for w in words if _is_occasion(w)}
        # as the question writes them: "Acme Robotics", not "Acme, Robotics"
        runs = [
            " ".join(w for w in map(clean_word, run.split()) if w in unknown)
            for run in _NAME_RUN.findall(question)
        ]
        named = [r for r in dict.fromkeys(runs) if r]
        return named + sorted(unknown - {w for r in named for w in r.split()})

    def conflicts(self, claim: str, ev: Evidence, question: str) -> list[str]:
        """What in `claim` the evidence sentence contradicts or lacks, by rules that need no model. A year
        the question names may come from the article's date."""
        problems = unstated_figures(claim, ev, question) + self.missing_names(claim, ev, question)[1]
        speakers = _speakers(claim)
        if not (same_speaker := _same_speaker(speakers, ev.quote, self._articles[ev.passage.source])):
            problems.append(f"said by {' '.join(sorted(speakers))}")
        if _swapped(claim, ev.quote):
            problems.append("roles swapped")
        if source := _source_as_actor(claim, ev.quote, question):
            problems.append(f"{source} is only the source")
        if _stated_as_certain(claim, ev.quote, question):
            problems.append("stated as certain")
        if opposite := _opposite(claim, ev.passage.text):
            problems.append(opposite)
        claim_words, quote_words = content_words(claim), content_words(ev.quote)
        # Someone else's statement is no opposite: "Austin confirmed" does not deny "Putin did not confirm".
        if same_speaker and (
            (_negated_words(ev.quote) & claim_words and not _NEGATION.search(_NOT_ONLY.sub(" ", claim)))
            or (_negated_words(claim) & quote_words and not _NEGATION.search(_NOT_ONLY.sub(" ", ev.quote)))
        ):
            problems.append("negation")
        return problems

    def missing_names(self, claim: str, ev: Evidence, question: str) -> tuple[list[str], list[str]]:
        """Names in the claim that the evidence's article never mentions: those it takes from the question
        ("Argentina was the runner-up of the 2014 World Cup" resting on "Runners-up Argentina … Date: 13
        July 2014"), which like other words restated from the question need the model's agreement, and
        the rest, which the article does not support."""
        article, asked = self._article_lower[ev.passage.source], question.lower()
        missing = sorted(n for n in self.names(claim) if not contains_name(article, n))
        borrowed = [n for n in missing if contains_name(asked, n)]
        return borrowed, [n for n in missing if n not in borrowed]

    def rank_for_question(self, question: str) -> list[tuple[Evidence, float]]:
        """Evidence sentences by how well they answer the question: meaning first, shared words second,
        a bonus for holding what the question asks for (a number, a date, a name), a penalty for
        speaking of another year than the one asked ("Q1 2023 revenue" for "revenue in Q1 2021")."""
        sims = self.similarities(question)
        terms = content_words(question)
        years = _YEAR.findall(question)
        scored = []
        for ev, sim in zip(self.items, sims, strict=True):
            overlap = len(terms & content_words(ev.quote)) / len(terms) if terms else 0.0
            score = float(sim) * 0.7 + overlap * 0.3
            if answers_kind(ev.quote, question):
                score += KIND_BONUS
            if years and not any(ev.names_year(y) for y in years):
                score -= OTHER_YEAR_PENALTY
            scored.append((ev, score))
        scored.sort(key=lambda pair: pair[1], reverse=True)
        return scored

    def new_names(self, text: str, question: str) -> set[str]:
        """The names in `text` that the question does not give: what a claim or a draft adds to it."""
        asked = question.lower()
        return {n for n in self.names(text) if not contains_name(asked, n)}

    @cached_property
    def passage_names(self) -> set[str]:
        """The names the retrieved passages use and never write in lower case ("kursk", not "war" as in
        "the Korean War"), in lower case: "kursk" in a question is a place."""
        lower = set(_LOWER_WORDS.findall(self._all_text))
        return {n.lower() for n in self.names(self._all_text)} - lower

    def names(self, text: str) -> set[str]:
        """The names in `text`; a first word counts only if the passages never write it in lower case.
        Kept per text: each claim's names are asked for once per candidate sentence and check, and each
        time its first word is looked up in all the passages."""
        if text not in self._names:
            self._names[text] = names_in(text, ordinary=self._all_text)
        return self._names[text]

    def context(self, ev: Evidence, claim: str, question: str) -> str:
        """The sentence for a yes/no check, after the closest earlier sentence of its passage that names what
        the claim and the question name and it does not: "The company's chief executive, Sandra Lee, said
        …" shows "Sandra Lee is the CEO of Brightline" (asked "Who is the CEO of Brightline?") only read
        after "Brightline Energy to build …". A name the question does not give stays the sentence's to
        show: "South" from a sentence nearby does not make "South Korea and Russia" right. A year the
        question names that only the article's date gives is shown with the date, as the rules read it
        ("Who is the CEO of Facebook in 2021?" on "Facebook CEO Mark Zuckerberg …" of Nov 1, 2021)."""
        quote_lower, asked = ev.quote.lower(), question.lower()
        dated = any(y not in ev.quote and ev.names_year(y) for y in _YEAR.findall(question))
        shown = f"Article dated {ev.passage.date}: " if dated else ""
        subject = [
            n for n in self.names(claim) if contains_name(asked, n) and not contains_name(quote_lower, n)
        ]
        earlier = [e for e in self.items if e.passage is ev.passage and e.start < ev.start] if subject else []
        for e in sorted(earlier, key=lambda e: e.start, reverse=True):
            if any(contains_name(e.quote.lower(), n) for n in subject):
                return f"{shown}{e.quote} {ev.quote}"
        return f"{shown}{ev.quote}"

    def neighbours(self, ev: Evidence) -> list[Evidence]:
        """`ev` with the sentences just before and after it in the same article, in reading order."""
        same = sorted((e for e in self.items if e.passage.source == ev.passage.source), key=lambda e: e.start)
        i = same.index(ev)
        return same[max(0, i - 1) : i + 2]


class Grounder:
    """Decides, for one question, whether to ask the model, what to show it, and what of its draft
    reaches the user. `ask_model` answers the yes/no checks; eval and calibration use this same object."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        support_threshold: float,
        topic_threshold: float,
        yes_threshold: float = 0.5,
        lenient: bool = False,
        ask_model: YesNo | None = None,
    ) -> None:
        self.embedder = embedder
        self.support_threshold = support_threshold
        self.topic_threshold = topic_threshold
        self.yes_threshold = yes_threshold
        self.lenient = lenient
        self.ask_model = ask_model

    # -- before generation -------------------------------------------------------------------------

    def check(
        self,
        question: str,
        passages: list[Passage],
        texts: dict[str, str],
        stored: StoredVectors | None = None,
        articles: str = ALL_ARTICLES,
    ) -> Check:
        """`stored` gives the evidence windows' vectors stored at ingest (ArticleIndex.stored_vectors);
        `articles` says which were searched (Filters.articles)."""
        question = plain_question(question)
        evidence = EvidenceSet(passages, texts, self.embedder, stored)
        ranked = evidence.rank_for_question(question)
        refusal = None
        if unknown := evidence.unknown_names(question):
            refusal = refusal_text(articles, unknown)
        elif self.topic_score(question, evidence) < self.topic_threshold:
            refusal = refusal_text(articles)
        return Check(question, evidence, ranked, self.select(evidence, ranked), refusal, articles)

    @staticmethod
    def topic_score(question: str, evidence: EvidenceSet) -> float:
        """How on topic the best sentence is: meaning and shared words, whatever the question asks for."""
        if not evidence.items:
            return -1.0
        sims = evidence.similarities(question)
        terms = content_words(question)
        overlaps = [
            len(terms & content_words(e.quote)) / len(terms) if terms else 0.0 for e in evidence.items
        ]
        return float(max(0.7 * s + 0.3 * o for s, o in zip(sims, overlaps, strict=True)))

    @staticmethod
    def select(evidence: EvidenceSet, ranked: list[tuple[Evidence, float]]) -> list[Evidence]:
        """The best evidence sentences with their neighbours: a few hundred tokens instead of whole
        passages, because prompt length is most of the time to first token."""
        chosen: list[Evidence] = []
        size = 0
        for ev, _ in ranked[:EVIDENCE_FOR_PROMPT]:
            for group in (evidence.neighbours(ev), [ev]):
                new = [e for e in group if e not in chosen]
                extra = sum(len(e.quote) + 1 for e in new)
                if size + extra <= PROMPT_CHAR_BUDGET or not chosen:
                    chosen += new
                    size += extra
                    break
        return chosen

    # -- after generation --------------------------------------------------------------------------

    def finish(self, check: Check, draft: str) -> Outcome:
        """Keep what the evidence supports; quote the evidence when the model's wording fails but the
        evidence answers; otherwise refuse."""
        if is_model_refusal(draft):
            return Outcome(refusal_text(check.articles), True, [])
        verdicts = self.verify(draft, check)
        kept = [v for v in verdicts if v.supported]
        answered = bool(kept) and self.answers(kept, check)
        extractive = False
        if not answered:
            quote = self.extractive_answer(check, draft)
            if quote is None:
                return Outcome(refusal_text(check.articles), True, verdicts)
            verdicts = [quote] + [v for v in verdicts if not v.supported]
            extractive = True
        shown = [v for v in verdicts if v.supported or self.lenient]
        return Outcome(compose(shown), False, verdicts, extractive)

    def verify(self, answer: str, check: Check) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for raw in split_sentences(_LIST_MARKER.sub("", _SPACED_ABBREVIATION.sub(r"\1.", answer))):
            sentence = clean_sentence(raw)
            if not strip_citations(sentence) or _META_ONLY.search(sentence) or is_model_refusal(sentence):
                continue
            if any(_repeats(sentence, v.sentence) for v in verdicts):
                continue
            verdicts.append(self.support(sentence, check))
        return verdicts

    def support(self, sentence: str, check: Check) -> Verdict:
        claim = strip_citations(sentence)
        evidence = check.evidence
        # A bare answer ("Russia's Kursk region.") means little alone: compare it with its question.
        short = len(claim.split()) < FRAGMENT_WORDS and check.question
        sims = evidence.similarities(f"{check.question} {claim}" if short else claim)
        closest = np.argsort(-sims)[:SUPPORT_CANDIDATES]
        # Of the close sentences, those the model was shown come first: its claim rests on what it read,
        # and an answer must (see `answers`).
        candidates = sorted(
            (i for i in closest if sims[i] >= self.support_threshold),
            key=lambda i: evidence.items[i] not in check.shown,
        )
        # Below the cut, a close sentence holding all the claim's numbers may still state it, if the model
        # agrees: "The war began in February 2022" rests on "Since Russia's invasion … in February 2022".
        # Written in the sentence: a year that only its article's date gives would anchor every sentence.
        figures = numbers_in(claim)
        anchored = [
            i for i in closest
            if i not in candidates and figures and figures <= numbers_in(evidence.items[i].quote)
        ]  # fmt: skip
        # A sentence naming everyone the claim names beyond the question is worth the model's look however
        # far its wording is: "Voters in France chose Emmanuel Macron" for "Macron won the 2017 election".
        if new_names := evidence.new_names(claim, check.question):
            order = [i for i in np.argsort(-sims) if i not in candidates and i not in anchored]
            anchored += [
                i for i in order
                if all(contains_name(evidence.items[i].quote.lower(), n) for n in new_names)
                and not unstated_figures(claim, evidence.items[i], check.question)
            ][:NAMED_CANDIDATES]  # fmt: skip
        conflicts = {
            i: evidence.conflicts(claim, evidence.items[i], check.question) for i in candidates + anchored
        }
        best = max((sims[i] for i in candidates), default=0.0)
        near = [i for i in candidates if sims[i] >= best - NEGATION_MARGIN]
        if any("negation" in conflicts[i] for i in near):
            # A close sentence says the opposite: that outweighs a looser sentence that seems to agree.
            return Verdict(sentence, None, float(sims.max()), ["negation"])
        reasons: list[str] = []
        asked = content_words(check.question)
        for i in candidates + anchored:
            ev = evidence.items[i]
            if problems := conflicts[i]:
                reasons = reasons or problems
                continue
            if unnamed := unnamed_events(claim, ev.quote, check.question):
                reasons = reasons or [f"not stated: {', '.join(unnamed)}"]
                continue
            claim_words, quote_words = content_words(claim), content_words(ev.quote)
            added = sorted(claim_words - quote_words - asked)
            echoed = _echoed(claim, asked, quote_words) + evidence.missing_names(claim, ev, check.question)[0]
            if (added or echoed or i in anchored) and not self._model_says(
                "entail", claim=claim, evidence=evidence.context(ev, claim, check.question)
            ):
                reasons = reasons or [f"not stated: {', '.join(added + echoed)}"]
                continue
            mended = _mend_year(_mend_bound(_mend_cut_abbreviation(sentence, ev.quote), ev.quote), ev.quote)
            return Verdict(mended, ev, float(sims[i]))
        return Verdict(sentence, None, float(sims.max()) if len(sims) else 0.0, reasons)

    def answers(self, kept: list[Verdict], check: Check) -> bool:
        """Does what survived answer what was asked? It must rest on the evidence the model was shown (a
        claim matched to a sentence it never read passed the model's checks on the wrong sentence: "North
        Korea's army is for defense" on the army's size), fit the question, and the model must agree the
        evidence shows it."""
        evidence = list(dict.fromkeys(v.evidence for v in kept if v.evidence))
        text = " ".join(strip_citations(v.sentence) for v in kept)
        return (
            any(ev in check.shown for ev in evidence)
            and fits(text, evidence, check.question, check.evidence.passage_names)
            and self._model_says(
                "correct",
                evidence=" ".join(check.evidence.context(ev, text, check.question) for ev in evidence),
                question=check.question,
                answer=text,
            )
        )

    def extractive_answer(self, check: Check, draft: str) -> Verdict | None:
        """The best evidence sentence, quoted, if it is a whole sentence, fits the question, says what the
        draft said and the model agrees it answers the question; quoting a merely nearby sentence, a
        headline or a snippet cut off ("… Serena Williams and Johanna Konta ...") would mislead. A draft
        that is only a citation ("[2]") points at an excerpt without wording an answer: the candidates
        are then that excerpt's best sentences."""
        pointed = not _A_WORD.search(strip_citations(draft))
        candidates = check.ranked
        if pointed:
            cited = cited_numbers(draft)
            candidates = [
                (ev, s) for ev, s in check.ranked if ev in check.shown and ev.passage.number in cited
            ]
        for ev, score in candidates[:2]:
            if (
                is_whole_sentence(ev.quote)
                and fits(ev.quote, [ev], check.question, check.evidence.passage_names)
                and (pointed or self.agrees(draft, ev.quote, check))
                and self._model_says("answers", question=check.question, evidence=ev.quote)
            ):
                return Verdict(ev.quote, ev, score)
        return None

    @staticmethod
    def agrees(draft: str, quote: str, check: Check) -> bool:
        """Does the quote say what the draft said, in other words? The quote stands in for a draft whose
        wording failed, not for one with another answer: of the names and numbers the draft gives beyond
        the question, the quote must give one ("Titanic (1997), for which he won an Oscar…" does not stand
        in for "James Cameron directed Avatar")."""
        text = strip_citations(draft)
        names = check.evidence.new_names(text, check.question)
        figures = numbers_in(text) - numbers_in(check.question)
        quote_lower = quote.lower()
        return (
            (not names and not figures)
            or any(contains_name(quote_lower, n) for n in names)
            or bool(figures & numbers_in(quote))
        )

    def _model_says(self, template: str, **variables: str) -> bool:
        """The model's yes, if it is at least `yes_threshold` sure; with no model to ask, the cheap checks
        alone decide (and say no)."""
        p_yes = self.ask_model(template, **variables) if self.ask_model else None
        return p_yes is not None and p_yes >= self.yes_threshold


def _mend_cut_abbreviation(sentence: str, quote: str) -> str:
    """The model sometimes stops inside an abbreviation ("… to target the U." for "the U.S."): the
    evidence sentence it rests on has the whole of it after the same word, unless it has two ("told the
    U.N. it can target the U.S."), when which one was meant is unknown."""
    text = strip_citations(sentence)
    if not (cut := _CUT_INITIAL.search(text)):
        return sentence
    wholes = {m.group(0) for m in re.finditer(rf"(?<!\S){re.escape(cut.group(1))}(?:[A-Z]\.)+", quote)}
    return text[: cut.start()] + wholes.pop() if len(wholes) == 1 else sentence


def _mend_bound(sentence: str, quote: str) -> str:
    """The model often drops a figure's bound ("600,000" for "over 600,000 Russian soldiers have died"),
    which states more than the article: the evidence's bound goes back before the figure."""
    text = strip_citations(sentence)
    mended = text
    for start, end in reversed(number_spans(text)):
        if _BOUND_BEFORE.search(text[:start]):
            continue
        if found := re.search(rf"\b({_BOUND})\s+{re.escape(text[start:end])}(?![\w,.]?\d)", quote, re.I):
            bound = found.group(1).lower()
            bound = bound.capitalize() if not text[:start].strip() else bound
            mended = f"{mended[:start]}{bound} {mended[start:]}"
    return sentence if mended == text else mended


def _mend_year(sentence: str, quote: str) -> str:
    """The model often drops a date's year ("It was released on September 20" for "Sep 20, 2019"), which
    answers "When …?" by half: the evidence's year goes back after the date, where the evidence dates
    that day in one year only and the sentence gives no year of its own ("on September 20 of 2019")."""
    years: dict[tuple[str, int], set[str]] = {}
    for m in _DATE.finditer(quote):
        if m["year"]:
            years.setdefault(_day(m), set()).add(m["year"].strip(" ,"))
    text = strip_citations(sentence)
    if _YEAR.search(text):
        return sentence
    mended = text
    for m in reversed(list(_DATE.finditer(text))):
        if not m["year"] and len(found := years.get(_day(m), set())) == 1:
            mended = f"{mended[: m.end()]}{', ' if m['month'] else ' '}{next(iter(found))}{mended[m.end() :]}"
    return sentence if mended == text else mended


def _day(date: re.Match[str]) -> tuple[str, int]:
    """(month, day) of a `_DATE` match, the same for "Sept. 20th" and "20 September"."""
    day = date["day"] or date["day2"]
    return (date["month"] or date["month2"])[:3].lower(), int(re.match(r"\d+", day).group(0))  # type: ignore[union-attr]


def _echoed(claim: str, asked: set[str], quote_words: set[str]) -> list[str]:
    """The question's content words (`asked`) that a claim repeats but its evidence sentence lacks ("won"
    in "X won Wimbledon in 2019" resting on "Wimbledon 2019: X and Y"): restating the question is no
    evidence. Names are checked elsewhere; a word sharing its first STEM_CHARS letters with one of the
    quote's counts as there ("succeed", "success")."""
    ordinary = content_words(" ".join(w for w in strip_citations(claim).split() if not w[:1].isupper()))
    stems = {w[:STEM_CHARS] for w in quote_words}
    return sorted(
        w for w in ordinary & asked - quote_words
        if len(w) < STEM_CHARS or w[:STEM_CHARS] not in stems
    )  # fmt: skip


def _repeats(sentence: str, earlier: str) -> bool:
    a, b = content_words(sentence), content_words(earlier)
    return bool(a) and len(a & b) / len(a) >= DUPLICATE_OVERLAP


_ENDING = re.compile(r"(.*?)([.!?]*[\"”’]?)", re.S)
_ABBREVIATION_END = re.compile(r"(?:\b[A-Z]\.){2,}$")


def compose(verdicts: list[Verdict]) -> str:
    """The answer text: each sentence with its passage number as [n] (or [unsupported] in lenient mode)."""
    parts = []
    for v in verdicts:
        sentence = strip_citations(v.sentence)
        marker = f" [{v.evidence.passage.number}]" if v.evidence else f" {UNSUPPORTED_MARK}"
        if _ABBREVIATION_END.search(sentence):  # "… the U.S." keeps its dots
            parts.append(f"{sentence}{marker}")
            continue
        body, end = _ENDING.fullmatch(sentence).groups()  # type: ignore[union-attr]
        parts.append(f"{body}{marker}{end or '.'}")
    return " ".join(parts)
