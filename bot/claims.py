"""Finding the checkable facts in a sentence: numbers (with dates) and proper names.

The verifier demands that each of these appears in the passage a sentence is attributed to, because
these are exactly what a small model invents ("1.5 million" for the articles' 1.2 million).
"""

from __future__ import annotations

import re
from pathlib import Path

_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "dozen": 12,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "twice": 2, "thrice": 3,
}  # fmt: skip
_SCALES = {
    "thousand": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "trillion": 1e12,
}
_NUMBER = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?:\s*(thousand|millions?|billions?|trillion)\b|(st|nd|rd|th)\b|[kKmM]\b)?"
    r"|\b(" + "|".join(_WORD_NUMBERS) + r")\b",
    re.IGNORECASE,
)
MONTH_NAMES = "January|February|March|April|May|June|July|August|September|October|November|December"
MONTH_SHORT = "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec"  # "Sep 20", "20 Sept. 2019"
DAY_NUMBER = r"(?<!\d)(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?(?!\d|,\d{3})"  # not in "20,000" or "123"
COUNT_WINDOW = 2  # words after a number that name what it counts ("six nuclear tests")
_CITATION = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")
_DOUBLE_STOP = re.compile(r"(\b[A-Z]\.)\.(?=\s|$)")
_WORD = re.compile(r"[^\W\d_][\w’'\-.]*")
_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "gen",
    "lt",
    "col",
    "sgt",
    "jr",
    "sr",
    "vs",
    "etc",
    "no",
    "inc",
    "corp",
}

_WORDLISTS = Path(__file__).parent / "wordlists"


def _wordlist(name: str) -> list[list[str]]:
    """The rows of a bundled word list: tab-separated fields, `#` comments and blank lines skipped."""
    lines = (_WORDLISTS / name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


# Capitalised words that are not names: sentence openers and the like.
STOP_NAMES = {row[0] for row in _wordlist("stop_names.txt")}
# News names a country by its capital ("Pyongyang shipped…", "talks with Moscow"): capital -> country.
CAPITALS = {capital.lower(): country for capital, country in _wordlist("capitals.tsv")}
# Generic nouns a title adds to an occasion's name ("the 92nd Academy Awards Ceremony").
OCCASION_WORDS = {row[0] for row in _wordlist("occasion_words.txt")}
# Nouns that count people ("troops", "personnel", "ppl"): a number of one answers "how many" of another.
PEOPLE_NOUNS = {row[0] for row in _wordlist("people_nouns.txt")}
# Events a question may ask about ("send", "dispatched", "deliveries"; "won", "beat"), each row one event's forms.
EVENT_VERBS = [frozenset(row) for row in _wordlist("event_verbs.txt")]
# Offices a question may ask who holds, each with the other ways news writes it ("CEO", "chief executive").
OFFICES = _wordlist("offices.tsv")
# Words that say the opposite of each other ("approved", "rejected"), both ways round, with whether the two
# tell one event from both ends ("X beat Y" is "Y lost to X").
OPPOSITES = [
    (frozenset(side.split()), frozenset(other.split()), "converse" in rest)
    for one, two, *rest in _wordlist("opposites.tsv")
    for side, other in ((one, two), (two, one))
]


def cited_numbers(text: str) -> set[int]:
    """The excerpt numbers a text cites: {1, 3} for "… [1] … [1, 3]"."""
    return {int(n) for m in _CITATION.finditer(text) for n in re.findall(r"\d+", m.group(0))}


def strip_citations(text: str) -> str:
    """The text without its [n] markers; "the U.S. [1]." keeps one full stop, not "the U.S.."."""
    return _DOUBLE_STOP.sub(r"\1", _CITATION.sub("", text)).strip()


def number_spans(text: str) -> list[tuple[int, int]]:
    """Where each number stands in `text`, as written ("over 1.2 million" -> the span of "1.2 million")."""
    return [m.span() for m in _NUMBER.finditer(text)]


def numbers_in(text: str) -> set[float]:
    values: set[float] = set()
    for match in _NUMBER.finditer(strip_citations(text)):
        digits, scale, _ordinal, word = match.groups()
        if word:
            values.add(float(_WORD_NUMBERS[word.lower()]))
            continue
        try:
            value = float(digits.replace(",", ""))
        except ValueError:
            continue
        suffix = match.group(0)[len(digits) :].strip().lower()
        if scale:
            value *= _SCALES[scale.lower()]
        elif suffix in ("k", "m"):
            value *= 1e3 if suffix == "k" else 1e6
        values.add(round(value, 6))
    return values


def counts(text: str, noun: str) -> bool:
    """Whether a number in `text` counts `noun` (folded): "over 13,000 containers", "six nuclear tests",
    and "twice" or "once" for times."""
    for match, following in _numbers_with_following_words(text):
        word = (match.group(4) or "").lower()
        if noun == "time" and word in ("twice", "thrice"):
            return True
        if any(_fold(w) == noun for w in following):
            return True
    return noun == "time" and re.search(r"\bonce\b", text, re.I) is not None


def counted_nouns(text: str) -> set[str]:
    """What the numbers in `text` say they count, where a noun in the COUNT_WINDOW words after one does:
    "13,000 containers loaded" -> containers, "1.2 million active-duty personnel" -> personnel. A number
    followed by a verb ("13,000 were sent") or by nothing counts nothing known."""
    return {
        w for _, following in _numbers_with_following_words(text) for w in following if is_counted_noun(w)
    }


def _numbers_with_following_words(text: str) -> list[tuple[re.Match[str], list[str]]]:
    """Each number in `text` with the COUNT_WINDOW words after it, lower-cased and bare: what it may count."""
    return [
        (match, [clean_word(w).lower().strip(".,;:") for w in text[match.end() :].split()[:COUNT_WINDOW]])
        for match in _NUMBER.finditer(text)
    ]


def is_counted_noun(word: str) -> bool:
    """A plural noun, by its look ("containers", not "success" or "has"), or one that counts people."""
    plural = word.isalpha() and word.endswith("s") and not word.endswith("ss") and bool(content_words(word))
    return plural or word in PEOPLE_NOUNS


def is_quantity(text: str) -> bool:
    """The whole text is one number ("twice", "13,000", "1.2 million"), not a date or a phrase."""
    return _NUMBER.fullmatch(text.strip()) is not None


def clean_word(word: str) -> str:
    word = re.sub(r"['’]s$", "", word.rstrip(".'’-"))
    return word


def names_in(sentence: str, ordinary: str = "") -> set[str]:
    """Capitalised words that are not common sentence words. Any word can start a sentence, so the first
    word counts only if it is an acronym, begins a multi-word name, or never appears in lower case in
    `ordinary` (text such as the retrieved passages): "China supplies..." is checked, "Analysts say" not."""
    words = [clean_word(m.group(0)) for m in _WORD.finditer(strip_citations(sentence))]
    names: set[str] = set()
    for i, word in enumerate(words):
        if not word or not word[0].isupper() or word.lower() in STOP_NAMES:
            continue
        if i == 0:
            acronym = len(word) > 1 and word.replace(".", "").isupper()
            nxt = words[1] if len(words) > 1 else ""
            multiword = nxt[:1].isupper() and nxt.lower() not in STOP_NAMES
            common = re.search(r"(?<!\w)" + re.escape(word.lower()) + r"(?!\w)", ordinary) is not None
            if not acronym and not multiword and (common or not ordinary):
                continue
        names.add(word)
    return names


_DEMONYM = re.compile(r"(?:ian|ese|an|n|s)$")
STEM_MIN = 4  # shorter names ("UN", "Kim") must match exactly
ABBREVIATION_MAX = 4  # letters of an abbreviation that may be written with dots or without ("U.S.", "US")


def contains_name(text_lower: str, name: str) -> bool:
    """`name` as a word of `text_lower`, allowing its other forms: "Korean" matches "Korea", "Russia"
    matches "Russian", "Ukrainian" matches "Ukraine", a capital matches its country ("Moscow":
    "Russia"), and a month its abbreviation ("September": "Sep 20, 2019")."""
    if month := _MONTH_FORMS.get(name.lower().rstrip(".")):
        return re.search(month, text_lower) is not None
    country = CAPITALS.get(name.lower())
    return _contains_form(text_lower, name) or (country is not None and _contains_form(text_lower, country))


def _month_forms() -> dict[str, str]:
    """A month's name or abbreviation ("sep", "sept") -> a pattern for its forms in lower-case text: the
    name as a word, or its abbreviation next to a day ("sep 20", "20 sept."), as "jan" alone may be a
    person and "mar" a verb."""
    forms = {}
    for full in MONTH_NAMES.lower().split("|"):
        short = "sept?" if full == "september" else full[:3]
        pattern = rf"(?<!\w)(?:{full}(?!\w)|{short}\.?\s+{DAY_NUMBER}|{DAY_NUMBER}\s+{short}(?![a-z]))"
        forms |= {full: pattern, full[:3]: pattern} | ({"sept": pattern} if full == "september" else {})
    return forms


_MONTH_FORMS = _month_forms()


def _contains_form(text_lower: str, name: str) -> bool:
    letters = name.replace(".", "")
    if len(letters) <= ABBREVIATION_MAX and letters.isalpha() and letters.isupper():
        # An abbreviation is written with or without dots: "U.S." and "US", "U.N." and "UN".
        pattern = r"\.?".join(re.escape(c) for c in letters.lower()) + r"\.?"
        return re.search(r"(?<!\w)" + pattern + r"(?!\w)", text_lower) is not None
    name = name.lower()
    stem = _DEMONYM.sub("", name)
    if len(stem) < STEM_MIN:
        return re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text_lower) is not None
    return re.search(r"(?<!\w)" + re.escape(stem) + r"\w{0,3}(?!\w)", text_lower) is not None


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, trimmed of surrounding whitespace, so text[start:end] is verbatim."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in re.finditer(
        r"[.!?]+[\"”’)\]]*(?=\s)|\n\s*\n|(?<=[.!?][\"”’])(?=[A-Z])|(?<=[a-z][.!?])(?=[A-Z])", text
    ):
        end = match.end()
        before = text[start : match.start()].rsplit(None, 1)
        last = before[-1].lower().rstrip(".") if before else ""
        if match.group(0).startswith(".") and (
            last in _ABBREVIATIONS or re.fullmatch(r"(?:[a-z]\.)*[a-z]", last)
        ):
            continue  # "U.S." or "Dr." does not end a sentence
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    trimmed = []
    for s, e in spans:
        piece = text[s:e]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            trimmed.append((s + left, s + right))
    return trimmed


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def content_words(text: str) -> set[str]:
    """Lower-cased words that carry meaning, with crude plural folding, for lexical overlap."""
    words = set()
    for m in _WORD.finditer(strip_citations(text)):
        w = clean_word(m.group(0)).lower().strip(".")
        if len(w) < 3 or w in STOP_NAMES or w in _QUESTION_WORDS:
            continue
        words.add(_fold(w))
    return words


def _fold(word: str) -> str:
    """Suffixes are stripped until none is left, so every form of a word meets at one stem: "austins" and
    "Austin", "trained" and "train" (one strip each left "austin"/"austi" and "train"/"trai" apart)."""
    while (stem := _strip_suffix(word)) != word:
        word = stem
    return word


def _strip_suffix(word: str) -> str:
    for suffix in ("ies", "ing", "ed", "es", "s", "n"):
        if not word.endswith(suffix) or len(word) - len(suffix) < 4:
            continue
        stem = word[: -len(suffix)]
        if suffix == "ies":
            return stem + "y"
        if suffix == "es" and not stem.endswith(("ss", "x", "z", "ch", "sh")):
            continue  # "forces" and "defenses" lose only their "s"
        if suffix == "s" and stem.endswith("s"):
            continue  # "success", "press"
        return stem
    return word


_QUESTION_WORDS = {
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "whos",
    "whats",
    "when",
    "where",
    "wheres",
    "why",
    "how",
    "did",
    "does",
    "say",
    "said",
    "tell",
    "according",
    "describe",
    "explain",
    "many",
    "much",
    "mention",
    "mentioned",
}
