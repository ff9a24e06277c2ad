from bot.claims import (
    contains_name,
    content_words,
    names_in,
    numbers_in,
    sentence_spans,
    split_sentences,
    strip_citations,
)


def test_numbers_are_normalised_across_spellings() -> None:
    assert numbers_in("about 1.2 million personnel") == {1_200_000}
    assert numbers_in("over 13,000 containers") == {13_000}
    assert numbers_in("six nuclear tests and the fourth largest army") == {6, 4}
    assert numbers_in("It cited passage [3] only.") == set()
    assert numbers_in("1.5 million") != numbers_in("1.2 million")


def test_names_skip_ordinary_sentence_openers_but_not_invented_names() -> None:
    assert names_in("Lloyd Austin confirmed it in Rome.") == {"Lloyd", "Austin", "Rome"}
    assert names_in("The troops arrived in Kursk.") == {"Kursk"}
    passages = "CNN analysts highlight the move."
    assert names_in("Analysts say it matters.", ordinary=passages) == set()
    assert names_in("China supplies oil.", ordinary=passages) == {"China"}
    assert names_in("North Korea’s army is large.") == {"North", "Korea"}


def test_sentence_spans_are_verbatim_and_respect_abbreviations() -> None:
    text = "On October 23, U.S. Secretary Lloyd Austin spoke.  Then he left! Did he?\n\nYes."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == split_sentences(text)
    assert split_sentences(text) == [
        "On October 23, U.S. Secretary Lloyd Austin spoke.",
        "Then he left!",
        "Did he?",
        "Yes.",
    ]


def test_citation_markers_and_content_words() -> None:
    assert strip_citations("It is large [1]. Really [2, 3].") == "It is large. Really."
    assert strip_citations("It cannot reach the U.S. [1].") == "It cannot reach the U.S."  # not "U.S.."
    assert content_words("How many North Korean troops were sent?") == {"north", "korea", "troop", "sent"}


def test_every_form_of_a_word_meets_the_others() -> None:
    """Users type "whats lloyd austins job": its words must meet the article's "Lloyd Austin"."""
    assert content_words("whats lloyd austins job") == content_words("Lloyd Austin's job")
    for forms in (
        "train trained training",
        "force forces",
        "defense defenses",
        "process processes",
        "meet meetings",
        "Korea Korean Koreans",
        "state states",
        "success",
    ):
        assert len(content_words(forms)) == 1, forms


def test_a_capital_stands_for_its_country() -> None:
    text = "north korea has delivered over 13,000 containers to russia."
    assert contains_name(text, "Pyongyang") and contains_name(text, "Moscow")
    assert not contains_name(text, "Beijing")  # China is not in the text


def test_an_abbreviation_is_the_same_name_with_or_without_dots() -> None:
    assert contains_name("won the us open", "U.S")
    assert contains_name("the u.s. open", "US") and contains_name("the u.n. said", "UN")
    assert not contains_name("unesco said", "UN") and not contains_name("the uk said", "U.S")


def test_a_month_is_the_same_name_written_short() -> None:
    """Web snippets date things "Sep 20, 2019"; the model writes "September 20"."""
    assert contains_name("released on sep 20, 2019", "September")
    assert contains_name("on sept. 20", "September")
    assert contains_name("released on september 20", "Sep") and contains_name("on 5 december", "Dec.")
    assert not contains_name("the marines landed", "March") and not contains_name("on sep 20", "October")
    # an abbreviation alone is no month: a person, a verb, a place
    assert not contains_name("jan egeland said", "January") and not contains_name(
        "talks at mar-a-lago", "March"
    )
