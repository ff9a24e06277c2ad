"""The grounder, on hand-made drafts from the scripted model: unsupported sentences go, supported ones
stay with verbatim quotes. The model's yes/no checks are scripted too (`verdicts`, then "yes")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import Bot
from bot.answer import Passage
from bot.claims import content_words
from bot.grounding import (
    Evidence,
    _echoed,
    _mend_bound,
    _mend_cut_abbreviation,
    _mend_year,
    _source_as_actor,
    _speakers,
    _stated_as_certain,
    _swapped,
    answers_kind,
    clean_sentence,
    evidence_sentences,
    holds_office,
    names_attribute,
    names_event,
    names_place,
    passage_sentences,
    plain_question,
    question_kind,
    unnamed_events,
)
from tests.conftest import ScriptedBackend


def ask_with_draft(bot: Bot, question: str, draft: str, verdicts: list[str] | None = None, **settings: str):  # type: ignore[no-untyped-def]
    bot.backend.replies = [draft]  # type: ignore[attr-defined]
    bot.backend.verdicts = list(verdicts or [])  # type: ignore[attr-defined]
    if settings:
        from dataclasses import replace

        bot.settings = replace(bot.settings, **settings)
        bot.grounder.lenient = bot.settings.grounding == "lenient"
    return bot.ask(question)


def scripted_bot_on(embedded_bot: Bot, tmp_path: Path, articles: dict[str, str]) -> Bot:
    """A bot over a corpus of `articles` (file name -> text) with the real embedder and database and a
    scripted model."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in articles.items():
        (corpus / name).write_text(text)
    seeded = embedded_bot.for_corpus(corpus, tmp_path / "data")
    return Bot(seeded.settings, seeded.embedder, seeded.index, ScriptedBackend(seeded.settings))


def assert_quotes_verbatim(bot: Bot, answer) -> None:  # type: ignore[no-untyped-def]
    assert answer.citations
    for c in answer.citations:
        assert bot.index.article_text(c.source)[c.start : c.end] == c.quote


def test_supported_sentence_is_kept_with_a_verbatim_quote(scripted_bot: Bot) -> None:
    answer = ask_with_draft(
        scripted_bot,
        "How large is North Korea's military?",
        "North Korea has about 1.2 million military personnel [1].",
    )
    assert not answer.refused and not answer.extractive
    assert "1.2 million" in answer.text and answer.removed_sentences == []
    assert_quotes_verbatim(scripted_bot, answer)


def test_wrong_number_is_removed(scripted_bot: Bot) -> None:
    answer = ask_with_draft(
        scripted_bot,
        "How large is North Korea's military?",
        "North Korea has about 1.5 million military personnel [1]. It has conducted six nuclear tests [2].",
    )
    assert "1.5 million" not in answer.text, answer
    assert any("1.5 million" in s for s in answer.removed_sentences), answer
    assert answer.refused  # the figure the articles give is another answer, not the draft's in other words


def test_wrong_name_is_removed(scripted_bot: Bot) -> None:
    answer = ask_with_draft(
        scripted_bot,
        "Who confirmed in Rome that North Korea has dispatched troops to Russia?",
        "Emmanuel Macron confirmed in Rome that North Korea has dispatched troops to Russia [1].",
    )
    assert "Macron" not in answer.text
    assert answer.removed_sentences
    assert answer.refused  # "Lloyd Austin confirmed…" would be another answer than the draft's


def test_lenient_mode_marks_instead_of_removing(scripted_bot: Bot) -> None:
    answer = ask_with_draft(
        scripted_bot,
        "How many nuclear tests has North Korea conducted?",
        "North Korea has conducted six nuclear tests [1]. It tested twelve rockets in Paris [1].",
        grounding="lenient",
    )
    assert "six nuclear tests" in answer.text
    assert "twelve rockets in Paris [unsupported]" in answer.text
    assert (
        answer.verifier_note() == "1 unsupported sentence kept and marked [unsupported] (lenient grounding)."
    )
    strict = ask_with_draft(
        scripted_bot,
        "How many nuclear tests has North Korea conducted?",
        "North Korea has conducted six nuclear tests [1]. It tested twelve rockets in Paris [1].",
        grounding="strict",
    )
    assert strict.verifier_note() == "1 unsupported sentence removed by the verifier."


def test_model_refusal_is_reported_as_refusal(scripted_bot: Bot) -> None:
    answer = ask_with_draft(scripted_bot, "How large is North Korea's military?", "The articles don't say.")
    assert answer.refused and answer.citations == []


def test_a_refusal_cites_nothing_even_when_a_draft_sentence_was_supported(scripted_bot: Bot) -> None:
    # The sentence rests on its evidence by rule, but the model says it does not answer the question.
    answer = ask_with_draft(
        scripted_bot,
        "How many nuclear tests has North Korea conducted?",
        "North Korea has conducted six nuclear tests [1].",
        verdicts=["no"] * 8,
    )
    assert answer.refused and answer.citations == [] and answer.to_dict()["citations"] == []


def test_off_topic_and_false_premise_questions_are_refused_before_the_model(scripted_bot: Bot) -> None:
    # Chat too: with no topic cut, the bundled model's checks let a random quote through for "thanks!"
    # (eval/HISTORY.md, 2026-12-03).
    for question in ("What is the boiling point of water?", "thanks!", "asdf"):
        refused = ask_with_draft(scripted_bot, question, "It boils at 100 degrees [1].")
        assert refused.refused and refused.draft == "" and refused.passages, question  # passages kept
    china = ask_with_draft(scripted_bot, "Why did China send troops to Kursk?", "China sent troops [1].")
    assert china.refused and "China" in china.text
    # an unknown name as the question writes it
    acme = ask_with_draft(scripted_bot, "Does Acme Robotics supply Russia's army?", "Yes [1].")
    assert acme.text == "The articles don't say anything about Acme Robotics.", acme.text
    # The articles write "U.S.": a question (or its condensed form) saying "United States" names no stranger.
    us = ask_with_draft(scripted_bot, "Can the missiles reach the United States?", "No [1].")
    assert "States" not in us.text
    # A generic word a title adds is no stranger when the rest of the name is there (the question reaches
    # the model); a made-up name with it still is, and so is an office ("CEO") with it.
    for question in (
        "What did Lloyd Austin confirm at the Rome Meeting?",
        "What was said at the Rome Meetings?",
    ):
        assert ask_with_draft(scripted_bot, question, "No [1].").draft.strip() == "No [1].", question
    made_up = ask_with_draft(scripted_bot, "What did Lloyd Austin confirm at the Acme Meeting?", "No [1].")
    assert made_up.text == "The articles don't say anything about Acme Meeting.", made_up.text
    office = ask_with_draft(scripted_bot, "What did Lloyd Austin say at the CEO Summit?", "No [1].")
    assert office.text == "The articles don't say anything about Summit.", office.text


@pytest.mark.parametrize(
    ("text", "question", "named"),
    [
        ("With a military strength of approximately 1.2 million personnel, North Korea boasts the fourth "
         "largest army", "How many troops did North Korea send?", False),
        ("North Korea has delivered over 13,000 containers", "how many containers has nk sent russia", True),
        ("North Korea has conducted six nuclear tests", "how many nuke tests has north korea done", True),
        ("over 600,000 Russian soldiers have died", "How many Russian soldiers have been killed?", True),
        # no event asked for: an army's size, or a question that is not "how many"
        ("a military strength of approximately 1.2 million personnel", "How many people serve in it?", True),
        ("Lloyd Austin confirmed it in Rome", "Where did North Korea send its troops?", True),
        ("Ukraine destroyed 15 Russian vessels", "How many ships did Ukraine sink?", True),  # no sending
        ("Kim Jong Un, 40, met Putin", "How many troops did North Korea send? How old is he?", True),
        # the sending only says whose army is meant
        ("a military strength of approximately 1.2 million personnel",
         "About how many people serve in the military of the isolated regime that sent soldiers abroad?", True),
        ("a military force of 1.2 million personnel", "How many people live in North Korea?", False),
        ("a population of about 26 million", "how many people live in north korea", True),
    ],
)  # fmt: skip
def test_a_figure_for_an_event_rests_on_a_sentence_naming_it(text: str, question: str, named: bool) -> None:
    assert names_event(text, question) is named


@pytest.mark.parametrize(
    ("text", "quotes", "question", "named"),
    [
        ("The population of North Korea is approximately 1.2 million.",
         "With a military force of 1.2 million personnel, North Korea boasts one of the largest armies",
         "What is the population of North Korea?", False),
        ("About 1.2 million.", "With a military force of 1.2 million personnel",
         "what's north korea's population", False),
        ("North Korea has about 26 million people.", "Its population is about 26 million.",
         "What's the population of North Korea?", True),
        ("Tesla's revenue in Q1 2021 was $10.4 billion.", "Tesla posted revenues of $10.4 billion",
         "What was Tesla's revenue in Q1 2021?", True),
        ("Tesla's revenue in Q1 2021 was $438 million.", "Tesla's net income was $438 million",
         "What was Tesla's revenue in Q1 2021?", False),
        # no figure: a job or a rank is named by its value
        ("He was Director of Operations.", "a former Director of Operations at the U.S. Pacific Command",
         "What was his old job?", True),
        # a word for the kind of answer asks for no quantity: question_kind has it
        ("It was released on April 16, 2020.", "It was released on April 16, 2020.",
         "What is the release date of Cyberpunk 2077?", True),
        ("About 1.2 million.", "a military force of 1.2 million personnel",
         "What is the size of North Korea's military?", True),
    ],
)  # fmt: skip
def test_a_figure_for_a_quantity_rests_on_sentences_naming_it(
    text: str, quotes: str, question: str, named: bool
) -> None:
    assert names_attribute(text, quotes, question) is named


@pytest.mark.parametrize(
    ("claim", "quote", "question", "unnamed"),
    [
        ("Serena Williams won Wimbledon in 2019.", "Wimbledon 2019: Serena Williams and Johanna Konta.",
         "Who won Wimbledon in 2019?", ["won"]),
        ("Simona Halep won Wimbledon in 2019.", "Simona Halep beat Serena Williams in the final.",
         "Who won Wimbledon in 2019?", []),
        ("Facebook acquired Instagram.", "Facebook bought Instagram in 2012.", "Which company acquired Instagram?",
         []),
        ("Microsoft paid $69 billion.", "The $69 billion acquisition closed.", "How much did Microsoft pay?", []),
        ("The Nuggets won the 2023 title.", "Denver beat Miami.", "Which NBA team won the 2023 title?", []),
        ("The Nuggets won the 2023 title.", "Denver played Miami.", "Which NBA team won the 2023 title?", ["won"]),
        # the sending only says which war; the question asks when it began
        ("The war these soldiers were sent to fight in began in February 2022.",
         "Since Russia's invasion of Ukraine in February 2022 …",
         "When did the war these soldiers were sent to fight in begin?", []),
    ],
)  # fmt: skip
def test_a_claim_repeating_the_event_asked_about_rests_on_a_sentence_naming_it(
    claim: str, quote: str, question: str, unnamed: list[str]
) -> None:
    assert unnamed_events(claim, quote, question) == unnamed


def test_who_played_is_no_support_for_who_won_and_the_model_is_not_asked(
    embedded_bot: Bot, tmp_path: Path
) -> None:
    article = (
        "Wimbledon 2019\n\nWimbledon 2019 – women's singles: Serena Williams and Johanna Konta met on Centre "
        "Court in the quarter-finals. The two had not played each other on grass before.\n"
    )
    bot = scripted_bot_on(embedded_bot, tmp_path, {"tennis.txt": article})
    draft = "Serena Williams won the women's singles Wimbledon in 2019 [1]."
    answer = ask_with_draft(bot, "Who won the women's singles Wimbledon in 2019?", draft, verdicts=["no"] * 9)
    assert answer.refused and answer.removed_sentences == [draft], answer
    checks = [m[-1]["content"] for m in bot.backend.prompts if m[-1]["content"].endswith("yes or no.")]  # type: ignore[attr-defined]
    assert not any("Proposed fact:" in c for c in checks), checks  # refused by rule, not on the model's no


def test_an_armys_size_is_no_answer_to_how_many_were_sent_whatever_the_model_says(scripted_bot: Bot) -> None:
    draft = "North Korea sent approximately 1.2 million troops [2]."
    answer = ask_with_draft(
        scripted_bot, "How many troops did North Korea send?", draft, verdicts=["yes"] * 9
    )
    assert answer.refused, answer.text


@pytest.mark.parametrize(
    ("question", "draft"),
    [
        (
            "What is the population of North Korea?",
            "The population of North Korea is approximately 1.2 million [2].",
        ),
        ("How many people live in North Korea?", "1.2 million [2]."),
    ],
)
def test_an_armys_size_is_no_answer_to_the_population_whatever_the_model_says(
    scripted_bot: Bot, question: str, draft: str
) -> None:
    answer = ask_with_draft(scripted_bot, question, draft, verdicts=["yes"] * 9)
    assert answer.refused, answer.text


def test_follow_up_is_condensed_with_the_history(scripted_bot: Bot) -> None:
    scripted_bot.backend.replies = [  # type: ignore[attr-defined]
        "When did Lloyd Austin confirm that North Korea has dispatched troops to Russia?",
        "Lloyd Austin confirmed it on October 23 in Rome [1].",
    ]
    history = [
        {"role": "user", "content": "Who confirmed that North Korea has dispatched troops to Russia?"},
        {"role": "assistant", "content": "U.S. Secretary of Defense Lloyd Austin."},
    ]
    answer = scripted_bot.ask("When did he confirm it?", history=history)
    assert answer.rewritten_query.startswith("When did Lloyd Austin confirm")
    assert "October 23" in answer.text and not answer.refused


@pytest.mark.parametrize(
    ("question", "rewritten"),
    [
        (
            "What could they get if they succeed?",
            "Who confirmed the deployment? What could they get if they succeed?",
        ),
        (
            "How many Russian soldiers have died?",
            "How many Russian soldiers have died?",
        ),  # already standalone
    ],
)
def test_a_follow_up_handed_back_unchanged_goes_with_the_question_before_it(
    scripted_bot: Bot, question: str, rewritten: str
) -> None:
    scripted_bot.backend.replies = [question, "The articles don't say."]  # type: ignore[attr-defined]
    history = [
        {"role": "user", "content": "Who confirmed the deployment?"},
        {"role": "assistant", "content": "Lloyd Austin."},
    ]
    assert scripted_bot.ask(question, history=history).rewritten_query == rewritten


@pytest.mark.parametrize(
    ("question", "draft", "removed"),
    [
        (  # an added qualifier the evidence does not have; the model, asked, says it is not stated
            "How large is North Korea's military?",
            "North Korea has approximately 1.2 million personnel per year [1].",
            "per year",
        ),
        (  # an answer copied from the passages that does not answer this question: the model says so
            "How many troops did North Korea send to Russia?",
            "North Korea has a military force of 1.2 million personnel [2].",
            "1.2 million",
        ),
        (  # swapped attribution: it was Lloyd Austin who confirmed it in Rome
            "Who confirmed in Rome that North Korea has dispatched troops to Russia?",
            "Vladimir Putin confirmed in Rome that North Korea has dispatched troops to Russia [1].",
            "Putin",
        ),
        (  # a negation flip
            "Has North Korea fought in a significant conflict since the Korean War?",
            "North Korea has engaged in significant conflict since the Korean War [1].",
            "has engaged",
        ),
    ],
)
def test_distortions_are_removed(scripted_bot: Bot, question: str, draft: str, removed: str) -> None:
    answer = ask_with_draft(scripted_bot, question, draft, verdicts=["no"] * 4)
    assert removed not in answer.text, answer


def test_agreed_paraphrase_is_kept_and_the_model_was_asked(scripted_bot: Bot) -> None:
    answer = ask_with_draft(
        scripted_bot,
        "How many containers has North Korea delivered to Russia?",
        "North Korea has shipped over 13,000 containers of munitions to Russia [2].",
    )
    assert not answer.refused and "13,000" in answer.text and answer.removed_sentences == []
    asked = [
        m[-1]["content"] for m in scripted_bot.backend.prompts if m[-1]["content"].endswith("yes or no.")
    ]  # type: ignore[attr-defined]
    assert any("shipped" in prompt for prompt in asked)


def test_restating_the_question_is_no_evidence(scripted_bot: Bot) -> None:
    """Words the claim takes from the question must be in its evidence sentence too, or the model asked:
    "met … and signed a treaty" does not say who cancelled it."""
    question = "Who cancelled the joint defense and cooperation treaty in June 2023?"
    draft = "Kim Jong-un cancelled the joint defense and cooperation treaty in June 2023 [1]."
    answer = ask_with_draft(scripted_bot, question, draft, verdicts=["no"])
    assert "cancelled" not in answer.text and draft.removesuffix(" [1].") in answer.removed_sentences[0]
    asked = [m[-1]["content"] for m in scripted_bot.backend.prompts]  # type: ignore[attr-defined]
    assert any("Proposed fact: Kim Jong-un cancelled" in prompt for prompt in asked), asked
    signed = content_words("Kim Jong-un and Putin signed a joint defense treaty.")
    assert _echoed(draft, content_words(question), signed) == sorted(content_words("cancelled cooperation"))
    # names are checked elsewhere; one stem is enough ("succeed" rests on "success")
    assert _echoed("Troops that succeed gain recognition.", content_words("What do troops that succeed gain?"),
                   content_words("If troops achieve success, they gain recognition.")) == []  # fmt: skip


def test_repeats_and_meta_sentences_never_reach_the_user(scripted_bot: Bot) -> None:
    sentence = "North Korea has a military force of 1.2 million personnel [2]."
    answer = ask_with_draft(
        scripted_bot,
        "How large is North Korea's military?",
        f"The passage is about North Korea. According to the passages, {sentence} {sentence} {sentence}",
    )
    assert answer.text.count("1.2 million") == 1, answer.text
    assert "passage" not in answer.text.lower() and answer.text.startswith("North Korea has")


def test_abbreviations_stay_intact(scripted_bot: Bot) -> None:
    answer = ask_with_draft(
        scripted_bot,
        "Who confirmed in Rome that North Korea has dispatched troops to Russia?",
        "U.S. Secretary of Defense Lloyd Austin confirmed it in Rome [1].",
    )
    assert answer.text.startswith("U.S. Secretary of Defense Lloyd Austin"), answer.text


def test_an_abbreviation_the_model_stops_inside_is_completed_from_its_evidence(scripted_bot: Bot) -> None:
    answer = ask_with_draft(
        scripted_bot,
        "Has North Korea's missile technology achieved the range to target the U.S.?",
        "No, North Korea's missile technology has not yet achieved the range necessary to target the U.",
        verdicts=["yes"] * 4,
    )
    assert answer.text.endswith("to target the U.S. [1]"), answer.text
    cut = "It can now target the U."
    assert _mend_cut_abbreviation(cut, "It told the U.N. it can now target the U.S.") == cut  # which one?
    assert (
        _mend_cut_abbreviation("They chose Plan B.", "They chose Plan B. Then they left.")
        == "They chose Plan B."
    )


def test_an_abbreviation_ending_an_answer_keeps_one_full_stop(scripted_bot: Bot) -> None:
    answer = ask_with_draft(
        scripted_bot,
        "Is North Korea's missile technology able to reach the U.S.?",
        "North Korea's missile technology has not yet achieved the range necessary to target the U.S. [1].",
        verdicts=["yes"] * 4,
    )
    assert re.search(r"to target the U\.S\. \[\d\]$", answer.text), answer.text


def test_what_the_evidence_only_supposes_is_not_stated_as_fact(embedded_bot: Bot, tmp_path: Path) -> None:
    """ "If Russian forces can leverage North Korean special troops …, it could … break through … in
    Donetsk" says nothing of troops fighting there. The rule needs no model: the model's yes does not
    keep the claim."""
    article = (
        "The weather in Seoul was mild. If Russian forces can leverage North Korean special troops to "
        "turn the tide, it could enhance their chances of breaking through Ukrainian defenses in Donetsk."
    )
    answer = ask_with_draft(
        scripted_bot_on(embedded_bot, tmp_path, {"war.txt": article}),
        "Are North Korean troops fighting in Donetsk?",
        "Yes, North Korean troops are fighting in Donetsk [1].",
        verdicts=["yes"] * 4,
    )
    assert "fighting in Donetsk" not in answer.text, answer
    donetsk = "If Russian forces use the troops, it could help them break through in Donetsk."
    assert _stated_as_certain("The troops fight in Donetsk.", donetsk, "Who fights in Donetsk?")
    assert not _stated_as_certain("Donetsk.", donetsk, "Where could Russia break through?")  # hedged question
    believe = "He says Kim is sending troops to get money and to gain experience he might apply if war comes."
    assert not _stated_as_certain(
        "Kim is sending troops to get money.", believe, "Why is Kim sending troops?"
    )
    assert _stated_as_certain("Kim will apply the experience in a war.", believe, "What will Kim do?")
    step_down = "Facebook CEO Mark Zuckerberg should step down, said a former employee."
    assert not _stated_as_certain("Mark Zuckerberg is the CEO of Facebook.", step_down, "Who runs Facebook?")


def test_a_list_marker_is_no_claim(scripted_bot: Bot) -> None:
    answer = ask_with_draft(
        scripted_bot,
        "How many nuclear tests has North Korea conducted?",
        "1. North Korea has conducted six nuclear tests [1].",
        verdicts=["yes"] * 4,
    )
    assert answer.text.startswith("North Korea has conducted six nuclear tests ["), answer.text


def test_a_figure_keeps_the_bound_its_evidence_gives(scripted_bot: Bot) -> None:
    """ "600,000" alone says more than "over 600,000 Russian soldiers have died"."""
    answer = ask_with_draft(
        scripted_bot,
        "How many Russian soldiers have died since the invasion?",
        "600,000 [1].",
        verdicts=["yes"] * 4,
    )
    assert answer.text.startswith("Over 600,000 ["), answer.text
    quote = "North Korea has approximately 1.2 million personnel and over 13,000 containers."
    assert _mend_bound("It has 1.2 million troops [1].", quote) == "It has approximately 1.2 million troops."
    assert _mend_bound("It has about 13,000 containers.", quote) == "It has about 13,000 containers."
    assert _mend_bound("It has 1,300 containers.", quote) == "It has 1,300 containers."


def test_extractive_fallback_needs_the_models_agreement(scripted_bot: Bot) -> None:
    question = "How large is North Korea's military?"
    draft = "It is very large [1]."
    assert ask_with_draft(scripted_bot, question, draft, verdicts=["no"] * 4).refused
    quoted = ask_with_draft(scripted_bot, question, draft, verdicts=["yes"])
    assert quoted.extractive and "1.2 million" in quoted.text
    # A quote stands in for the draft's wording, not for another answer (RGB: "James Cameron" drafted,
    # "Titanic (1997), for which he won an Oscar…" quoted).
    assert ask_with_draft(scripted_bot, question, "About 1.5 million [1].", verdicts=["yes"] * 4).refused


def test_a_bare_citation_is_answered_from_the_excerpt_it_points_at(scripted_bot: Bot) -> None:
    """The model sometimes drafts only "[2]": the best sentence of excerpt 2 is quoted if it fits the
    question and the model says it answers; a citation of no excerpt shown says nothing."""
    question = "How large is North Korea's military?"
    check = scripted_bot.grounder.check(question, scripted_bot.retrieve(question), scripted_bot.index.texts)
    numbers = {e.passage.number for e in check.shown}
    size = next(e.passage.number for e in check.shown if "1.2 million" in e.quote)
    pointed = ask_with_draft(scripted_bot, question, f"[{size}]", verdicts=["yes"] * 4)
    assert pointed.extractive and "1.2 million" in pointed.text, pointed.text
    assert ask_with_draft(scripted_bot, question, f"[{size}]", verdicts=["no"] * 4).refused
    unshown = next(n for n in range(1, 30) if n not in numbers)
    assert ask_with_draft(scripted_bot, question, f"[{unshown}]", verdicts=["yes"] * 4).refused


def test_question_kinds_and_number_words() -> None:
    times = "How many times did the two leaders meet last year?"
    assert question_kind(times) == "number"
    assert answers_kind("Kim Jong-un and Vladimir Putin met twice.", times)
    assert not answers_kind("They met on October 23.", times)  # a day of a month is not a count
    shells = "How many artillery shells were in the containers?"
    assert not answers_kind("It delivered over 13,000 containers loaded with artillery shells.", shells)
    assert answers_kind("North Korea has about 1.2 million personnel.", "How many people serve in its army?")
    assert answers_kind("It has about 1.2 million active-duty personnel.", "how many ppl are in its army")
    # A count of other things answers no "how many": not of troops, nor of tanks ("anti-tank" is no tank).
    containers = "It sent 13,000 containers loaded with shells and anti-tank rockets to Russia."
    assert not answers_kind(containers, "How many North Korean troops were sent to Russia?")
    assert not answers_kind(containers, "How many tanks did North Korea send to Russia?")
    assert answers_kind("Over 13,000 were sent to Russia.", "How many tanks did North Korea send to Russia?")
    assert answers_kind("Over 600,000 Russian soldiers have died.", "how many died")  # "died" is no noun
    # "How long …?" is answered by a span or a start as well as by a number
    deterrent = "how long has north korea been saying its military is just a deterrent"
    assert question_kind(deterrent) == "duration"
    assert answers_kind("For decades, North Korea has claimed it serves a deterrent role.", deterrent)
    assert answers_kind("The relationship has evolved since the Cold War.", "How long has it been evolving?")
    assert answers_kind("It has made that claim for 30 years.", deterrent)
    assert not answers_kind("North Korea claims its military serves a deterrent role.", deterrent)
    assert not answers_kind("Kim and Putin met twice.", "where did kim and putin meet")  # no new name
    assert answers_kind("They met in Vladivostok.", "where did kim and putin meet")
    election = "Who won the US Presidential Election 2020?"  # a name given as initials, a weekday: no answer
    assert not answers_kind("The United States election was held on Tuesday, November 3, 2020.", election)
    assert answers_kind("Joe Biden won the United States election on Tuesday.", election)
    assert not answers_kind("Kim Jong-un and Putin met twice last year.", "where did kim and putin meet")
    assert question_kind("When did Ukraine announce it?") == "time"
    # a date asked for in other words; and a time the question gives is no answer to it
    assert question_kind("What is the release date of The Last of Us Part II?") == "time"
    assert question_kind("what's the date of the 2020 NBA Draft") == "time"
    globes = "When did the Golden Globe Awards 2020 take place?"
    assert not answers_kind("Here are the winning films at the 2020 Golden Globe Awards.", globes)
    assert answers_kind("The awards took place on January 5, 2020.", globes)
    assert answers_kind("It should come in May.", "When may the treaty be signed?")  # "may" is no month
    for question in (
        "Who is Lloyd Austin?",
        "whos elena vasquez",
        "Who is In-Bum Chun?",
        "Who is Helen Chen?",
    ):
        assert question_kind(question) == "identity", question
    for question in (
        "Who is the mayor of Riverton?",
        "Who is commanding the troops?",
        "who was elected mayor",
    ):
        assert question_kind(question) == "person", question
    assert answers_kind("Mayor Elena Vasquez said the bridge will reopen.", "who is elena vasquez")
    assert clean_sentence("According to the passages, Kursk is a region.") == "Kursk is a region."
    assert clean_sentence("Kursk is a region, as stated in excerpt [1].") == "Kursk is a region."
    assert clean_sentence("It was sent in the text [1].") == "It was sent in the text [1]."
    # "second" names which article, not a figure of the claim
    assert (
        clean_sentence("The second article says it has conducted six tests.") == "It has conducted six tests."
    )
    assert clean_sentence("According to the first article, it is large.") == "It is large."
    assert clean_sentence("The article reports a rise in prices.") == "The article reports a rise in prices."


def test_where_something_ranks_is_answered_by_a_rank_not_a_place() -> None:
    question = "Where does North Korea's army rank globally?"
    assert answers_kind("It is the fourth largest army in the world.", question)
    assert not answers_kind("Its army is in Pyongyang.", question)
    assert question_kind("Where did the troops arrive?") == "place"


def test_a_place_is_a_new_name_after_a_preposition_of_place() -> None:
    meet = "where did kim and putin meet last year"
    assert not answers_kind(
        "North Korean leader Kim Jong-un and Russian President Putin met in June 2023.", meet
    )
    assert answers_kind("They were deployed to the Kursk region.", "Where were the troops sent?")
    assert not answers_kind("They trained in Russia.", "Where in Russia did they train?")
    olympics = "which city hosted the olympic games in 2012?"
    assert answers_kind("London, England [3]", olympics)  # a bare answer is the place itself
    assert question_kind("They were filmed training. Where was the camp?") == "place"
    assert question_kind("What did the U.S. say? How many troops went?") == "number"
    assert question_kind("According to Foreign Policy Journal, when did it last fight abroad?") == "time"
    assert question_kind("About how many people serve in its military?") == "number"
    assert question_kind("Did they meet last year, and if so, how many times?") == "number"
    assert question_kind("What does the general say the receiving country gains?") is None


def test_a_claim_below_the_similarity_cut_is_kept_on_its_numbers_only_if_the_model_agrees(
    scripted_bot: Bot,
) -> None:
    question = "When did the war these soldiers were sent to fight in begin?"
    draft = "The war these soldiers were sent to fight in began in February 2022 [1]."
    kept = ask_with_draft(scripted_bot, question, draft, verdicts=["yes"] * 4)
    assert not kept.refused and not kept.extractive and "February 2022" in kept.citations[0].quote
    assert ask_with_draft(scripted_bot, question, draft, verdicts=["no"] * 8).refused


def test_the_fallback_quotes_whole_sentences_not_cut_off_snippets(embedded_bot: Bot, tmp_path: Path) -> None:
    """A search snippet cut off at either end, or a headline, may name the wrong winner or miss what
    happened; only a whole sentence is quoted, even when the model says it answers."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    question = "Who won the women's singles at Wimbledon in 2019?"
    snippets = {
        "cut": "Wimbledon 2019 women's singles: Serena Williams and Johanna Konta ...",
        "fragment": "beat Serena Williams in the women's singles final at Wimbledon in 2019.",
        "headline": "Serena Williams Wimbledon 2019 Women's Singles Final Review.",
        "whole": "Simona Halep won the women's singles at Wimbledon in 2019.",
    }
    answers = {}
    for name, snippet in snippets.items():
        (corpus / "wimbledon.txt").write_text(f"Wimbledon 2019\n\n{snippet}\n\nTickets sold out in March.\n")
        seeded = embedded_bot.for_corpus(corpus, tmp_path / f"data-{name}")
        bot = Bot(seeded.settings, seeded.embedder, seeded.index, ScriptedBackend(seeded.settings))
        answers[name] = ask_with_draft(bot, question, "It was a close final [1].")
    for name in ("cut", "fragment", "headline"):
        assert answers[name].refused, (name, answers[name].text)
    assert answers["whole"].extractive and "Simona Halep" in answers["whole"].text, answers["whole"].text


def test_a_dated_article_speaks_of_its_year(embedded_bot: Bot, tmp_path: Path) -> None:
    """A news article's dateline sets the year of what it reports: "Barty beat Pliskova … at Wimbledon" in
    an article of Jul 10, 2021 answers "… in 2021?"; the same sentence in a 2019 article does not."""
    question = "Who won the women's singles at Wimbledon in 2021?"
    draft = "Ashleigh Barty won the women's singles at Wimbledon in 2021 [1]."
    sentence = (
        "Ashleigh Barty beat Karolina Pliskova in three sets to win the women's singles title at Wimbledon."
    )
    answers, checks = {}, {}
    for year, date in (("2021", "Jul 10, 2021"), ("2019", "Jul 14, 2019")):
        corpus = tmp_path / year
        corpus.mkdir()
        (corpus / "wimbledon.txt").write_text(f"Wimbledon final\n\n{date} ... {sentence}\n")
        seeded = embedded_bot.for_corpus(corpus, tmp_path / f"data-{year}")
        bot = Bot(seeded.settings, seeded.embedder, seeded.index, ScriptedBackend(seeded.settings))
        answers[year] = ask_with_draft(bot, question, draft)
        prompts = bot.backend.prompts  # type: ignore[attr-defined]
        checks[year] = [m[-1]["content"] for m in prompts if m[-1]["content"].endswith("yes or no.")]
    assert not answers["2021"].refused and "Barty" in answers["2021"].text, answers["2021"]
    # the model's check is shown the date the year comes from, as the rule reads it
    assert checks["2021"], "no yes/no check was asked"
    assert all(f"Article dated Jul 10, 2021: {sentence}" in c for c in checks["2021"]), checks["2021"]
    assert answers["2019"].refused, answers["2019"].text
    # a sentence that names another year speaks of that year, whatever the article's date
    passage = Passage(1, "w.txt", "Wimbledon", "Jul 10, 2021", sentence, 0, len(sentence), 1.0)
    assert Evidence(passage, sentence, 0, len(sentence)).names_year("2021")
    assert not Evidence(passage, f"In 2019, {sentence}", 0, len(sentence)).names_year("2021")


def test_a_year_asked_about_may_come_from_the_date_of_the_sentence_that_names_the_answer(
    embedded_bot: Bot, tmp_path: Path
) -> None:
    """A sentence with no year of its own speaks of its article's year, also where it is looked up for
    naming the answer: "Sandra Lee is the CEO of Brightline in 2021" rests on "… chief executive, Sandra
    Lee, said …" in an article dated Apr 26, 2021, though sentences about other chief executives are
    closer in meaning."""
    factory = (
        "Brightline Energy to build factory\n\nApr 26, 2021 ... Brightline Energy said on Thursday it will "
        "build a solar panel factory in Dunmore. The company's chief executive, Sandra Lee, said the plant "
        "would open soon.\n\nBrightline has had three chief executives since it was founded. The board "
        "of Brightline will appoint a new CEO in the autumn. Brightline's CEO search drew 40 candidates.\n"
    )
    bot = scripted_bot_on(embedded_bot, tmp_path, {"factory.txt": factory})
    draft = "Sandra Lee is the CEO of Brightline in 2021 [1]."
    answer = ask_with_draft(bot, "Who is the CEO of Brightline in 2021?", draft, verdicts=["no", "no"])
    assert not answer.refused and not answer.extractive, answer.text  # the draft, not a fallback quote
    assert "Sandra Lee" in answer.citations[0].quote, answer.citations
    checks = [m[-1]["content"] for m in bot.backend.prompts if m[-1]["content"].endswith("yes or no.")]  # type: ignore[attr-defined]
    assert any("Article dated Apr 26, 2021:" in c and "Sandra Lee, said" in c for c in checks), checks


def test_a_name_taken_from_the_question_needs_the_models_agreement(embedded_bot: Bot, tmp_path: Path) -> None:
    """A results table that never says "World Cup" may still answer who was runner-up of the World Cup,
    if the model agrees; the name alone neither proves nor disproves it."""
    bot = scripted_bot_on(
        embedded_bot,
        tmp_path,
        {
            "final.txt": "The 2014 final\n\nChampions: Germany. Runners-up: Argentina. Third place: Netherlands. "
            "Date: 13 July 2014.\n",
            "cup.txt": "The tournament\n\nThe World Cup is held every four years.\n",
        },
    )
    question, draft = (
        "Who was the runner-up of the 2014 World Cup?",
        "Argentina was the runner-up of the 2014 World Cup [1].",
    )
    assert "Argentina" in ask_with_draft(bot, question, draft, verdicts=["yes"] * 4).text
    assert ask_with_draft(bot, question, draft, verdicts=["no"] * 8).refused


def test_a_sentence_that_names_the_answer_is_tried_and_read_with_its_subject(
    embedded_bot: Bot, tmp_path: Path
) -> None:
    """Two sentences about Brightline's chief executives are closer in meaning to "Sandra Lee is the CEO
    of Brightline" than the one that says so ("The company's chief executive, Sandra Lee, …"); it is
    still put to the model, after the sentence that names the company, and it gives the office to the
    company the article is about."""
    factory = (
        "Brightline Energy to build factory\n\nBrightline Energy said on Thursday it will build a solar panel "
        "factory in Dunmore. The company's chief executive, Sandra Lee, said the plant would open in 2028.\n\n"
        "Brightline has had three chief executives since it was founded in 2015. The board of Brightline "
        "will appoint a new CEO next year. Brightline's CEO search drew 40 candidates.\n"
    )
    bot = scripted_bot_on(embedded_bot, tmp_path, {"factory.txt": factory})
    draft = "Sandra Lee is the CEO of Brightline [1]."
    answer = ask_with_draft(bot, "Who is the CEO of Brightline?", draft, verdicts=["no", "no", "yes", "yes"])
    assert not answer.refused and "Sandra Lee" in answer.citations[0].quote, answer.text
    agreed = bot.backend.prompts[3][-1]["content"]  # type: ignore[attr-defined]
    assert "Brightline Energy said on Thursday" in agreed and "Sandra Lee, said" in agreed, agreed


def test_a_role_swap_is_removed_even_when_the_model_agrees(scripted_bot: Bot) -> None:
    """Every word is the evidence's, so only the word order shows it: North Korea delivered them to Russia."""
    question = "How many containers has North Korea delivered to Russia?"
    draft = "Russia has delivered over 13,000 containers to North Korea [1]."
    answer = ask_with_draft(scripted_bot, question, draft, verdicts=["yes"] * 8)
    assert "to North Korea" not in answer.text and draft.split(" [")[0] in answer.removed_sentences[0], answer


def test_a_quote_that_sends_things_the_other_way_does_not_answer() -> None:
    """Direction is in the word order only: "North Korea has delivered … to Russia" does not answer what
    Russia shipped to North Korea, nor support a claim that Russia delivered them."""
    quote = "North Korea has delivered over 13,000 containers loaded with artillery shells, rockets, and missiles to Russia."
    assert _swapped("Russia has delivered 13,000 containers to North Korea.", quote)
    assert _swapped("How many containers has Russia shipped to North Korea?", quote)
    assert not _swapped("How many containers has North Korea shipped to Russia?", quote)
    assert not _swapped("North Korea sent 13,000 containers to Russia.", quote)
    # "Russian" and "Russia" are one name; the training was in Russia
    footage = "South Korean television aired footage of North Korean soldiers undergoing training in Russia."
    assert _swapped("Television showed Russian soldiers training in North Korea.", footage)
    # "in the Ukraine war" and "in Russia's military" say where nothing goes
    rome = (
        "On October 23 in Rome, Lloyd Austin confirmed that North Korea has dispatched troops to Russia to "
        "participate in the ongoing Ukraine war, marking a significant shift in Russia’s military operations."
    )
    assert not _swapped("North Korea sent troops to Russia to fight in the Ukraine war.", rome)
    # help goes one way too: "to aid Russia"
    aid = "North Korea has not only provided logistical support but has also sent troops to aid Russia in the conflict."
    assert _swapped("Russia has provided logistical support and sent troops to aid North Korea.", aid)
    assert not _swapped("North Korea sent troops to help Russia.", aid)
    assert not _swapped("North Korea sent troops to Russia.", aid)
    # but meeting, facing or beating someone goes both ways: word order says nothing there
    assert not _swapped("Biden is due to meet Xi Jinping.", "Xi Jinping is due to meet Biden.")
    assert not _swapped("Spain will go on to face England.", "England advanced to face Spain.")


GUR = (
    "According to the Ukrainian Ministry of Defense’s Main Intelligence Directorate (GUR), the first contingent "
    "of troops from the Democratic People’s Republic of Korea (North Korea) has indeed made it to the front "
    "lines of the Russia-Ukraine war, with records showing their presence in Kursk as of yesterday."
)


def test_the_source_of_a_report_is_not_made_its_actor_even_when_the_model_agrees(scripted_bot: Bot) -> None:
    """The GUR reports the troops' arrival; it is in charge of nothing the article says."""
    question = "who's in charge of the north korean troops in kursk?"
    draft = "The GUR is in charge of the North Korean troops in Kursk [1]."
    answer = ask_with_draft(scripted_bot, question, draft, verdicts=["yes"] * 8)
    assert "in charge" not in answer.text and "GUR" in answer.removed_sentences[0], answer
    assert _source_as_actor(draft, GUR, question) == "GUR"


def test_a_source_may_be_named_for_what_it_reports() -> None:
    question = "Where are the North Korean troops?"
    assert _source_as_actor("The GUR says the North Korean troops are in Kursk.", GUR, question) is None
    assert _source_as_actor("GUR records show the troops in Kursk.", GUR, question) is None
    assert _source_as_actor("The North Korean troops are in Kursk.", GUR, question) is None  # not the source
    assert _source_as_actor("The GUR is in Kursk.", GUR, "Who reported the troops in Kursk?") is None
    assert _source_as_actor("The GUR is in Kursk.", GUR, "What is the GUR doing?") is None  # asked about
    named = (
        "According to the GUR, the troops reached Kursk, where the GUR has seen 3,000 of them."  # not only
    )
    assert _source_as_actor("The GUR leads the troops in Kursk.", named, question) is None
    # the source is what a report's comma ends, and only the name a claim opens with is made to act
    no_comma = "According to the GUR the North Korean troops reached Kursk and clashed with Ukrainian forces."
    assert _source_as_actor("North Korean troops reached Kursk.", no_comma, question) is None
    treaty = "According to a treaty signed with Russia, North Korea sent 10,000 troops."
    assert _source_as_actor("North Korea sent 10,000 troops to Russia.", treaty, question) is None


def test_an_answer_that_drops_a_dates_year_gets_it_back(embedded_bot: Bot, tmp_path: Path) -> None:
    launch = (
        "Apple's new phone goes on sale\n\nApple released the iPhone 11 on Sep 20, 2019, at a starting price "
        "of $699. Queues formed outside its stores in several cities before the doors opened that morning."
    )
    bot = scripted_bot_on(embedded_bot, tmp_path, {"launch.txt": launch})
    draft = "The iPhone 11 was released on September 20 [1]."
    answer = ask_with_draft(bot, "When was the iPhone 11 released?", draft, verdicts=["yes"] * 8)
    assert answer.text.startswith("The iPhone 11 was released on September 20, 2019 [1]"), answer.text


def test_a_figure_for_a_place_rests_on_a_sentence_naming_it_even_when_the_model_agrees(
    scripted_bot: Bot,
) -> None:
    """The 600,000 dead are the whole war's, not Kursk's."""
    for question in (
        "How many Russian soldiers have been killed in the Kursk region?",
        "how many russians died in kursk",
    ):
        answer = ask_with_draft(scripted_bot, question, "Over 600,000 [1].", verdicts=["yes"] * 8)
        assert answer.refused, answer.text
    answer = ask_with_draft(
        scripted_bot, "how many russian soldiers died in the war", "Over 600,000 [1].", ["yes"] * 8
    )
    assert "600,000" in answer.text, answer.text


def test_names_place() -> None:
    named = {"north", "korean", "russia", "kursk"}  # what the passages write as names
    died = "Over 600,000 Russian soldiers have died."
    assert not names_place(died, "how many died in kursk?", named)
    assert names_place(
        "North Korean troops arrived in Russia's Kursk region.", "How many are in Kursk?", named
    )
    assert names_place(died, "How many died in the war?", named)  # no place named
    assert names_place(died, "How many died in Bakhmut?", set())  # no passage names it: unknown
    assert names_place(died, "Where did they die in Kursk?", named)  # no figure asked
    assert names_place(died, "How many died in Kursk's strike?", named)  # whose, not where


def test_a_date_gets_back_the_year_its_evidence_gives_it() -> None:
    quote = (
        "Apple released the iPhone 11 on Sep 20, 2019, ten days after it was announced on 10 September 2019."
    )
    assert (
        _mend_year("It was released on September 20 [1].", quote) == "It was released on September 20, 2019."
    )
    assert (
        _mend_year("It was announced on 10th September.", quote) == "It was announced on 10th September 2019."
    )
    assert (
        _mend_year("It came out September 20, 2019.", quote) == "It came out September 20, 2019."
    )  # has one
    assert _mend_year("It came out on September 21.", quote) == "It came out on September 21."  # another day
    both = "The show aired on May 5, 2019 and again on May 5, 2020."
    assert _mend_year("It aired on May 5.", both) == "It aired on May 5."  # which year is unknown
    assert _mend_year("They sent 20 containers.", quote) == "They sent 20 containers."


VOTE = (
    "Springfield council approves new bridge funding\n\n"
    "The Springfield city council voted 7 to 2 on Monday to approve $45 million in funding for a new bridge. "
    "Mayor Linda Carver said construction would begin in spring 2022. "
    "Opponents on the council argued that the money should go to road repairs instead.\n"
)
FINAL = (
    "Riverside FC wins the regional cup\n\n"
    "Riverside FC beat Lakeside United 3-1 in the regional cup final on Saturday. "
    "Striker Tomas Okafor scored two goals, and the crowd at Hill Park numbered 12,500.\n"
)


def test_initials_in_a_question_match_the_name_an_article_spells_out(
    embedded_bot: Bot, tmp_path: Path
) -> None:
    vote = "Vote in New York\n\nRussia vetoed the resolution in the United Nations Security Council.\n"
    bot = scripted_bot_on(embedded_bot, tmp_path, {"vote.txt": vote})
    answer = ask_with_draft(bot, "Who vetoed the resolution at the UN?", "Russia vetoed it [1].")
    assert not answer.refused, answer.text
    assert (
        "anything about IAEA" in ask_with_draft(bot, "Did the IAEA vote on the resolution?", "No [1].").text
    )


def test_an_answer_that_says_the_opposite_of_its_article_is_refused_even_when_the_model_agrees(
    embedded_bot: Bot, tmp_path: Path
) -> None:
    """A question's false premise ("reject" where the council voted to approve), restated in the answer or
    answered with a bare name, is refused; a question asked from the loser's side ("Who did Lakeside lose
    to?") is the same event told from its other end, and is answered."""
    bot = scripted_bot_on(embedded_bot, tmp_path, {"vote.txt": VOTE, "final.txt": FINAL})
    yes = ["yes"] * 8
    premise = ask_with_draft(
        bot,
        "Why did the Springfield council reject the bridge funding?",
        "The Springfield council rejected the bridge funding because opponents argued that the money should "
        "go to road repairs instead [1].",
        verdicts=yes,
    )
    assert premise.refused, premise.text
    assert ask_with_draft(
        bot, "Who did Riverside FC lose to in the final?", "Lakeside United [1].", verdicts=yes
    ).refused
    loser = ask_with_draft(
        bot, "Who did Lakeside United lose to in the final?", "Riverside FC [1].", verdicts=yes
    )
    assert not loser.refused and "Riverside FC" in loser.text, loser.text
    approved = ask_with_draft(
        bot,
        "What did the Springfield council approve?",
        "It approved $45 million for a new bridge [1].",
        verdicts=yes,
    )
    assert not approved.refused, approved.text


def test_an_office_must_belong_to_the_organisation_the_question_names() -> None:
    ukraine = "Who is the president of Ukraine?"
    assert not holds_office("The report was not confirmed by Russian President Vladimir Putin.", ukraine)
    assert holds_office("Ukrainian President Volodymyr Zelensky said so.", ukraine)
    assert holds_office("President Zelensky of Ukraine said so.", ukraine)
    nfl = "Who is the president of the NFL?"
    assert not holds_office(
        "The board re-elected JC Tretter as president of the NFL Players Association.", nfl
    )
    fifa = "Who is the president of FIFA?"
    assert not holds_office("Sepp Blatter, the former president of FIFA, spoke.", fifa)
    assert holds_office("Gianni Infantino, president of FIFA, spoke.", fifa)
    assert holds_office(
        "Google's chief executive, Sundar Pichai, spoke.", "Who is the CEO of Google in 2021?"
    )
    assert holds_office("U.S. President Joe Biden spoke.", "Who is the president of the United States?")
    # the office of the organisation the passage is about, named in another of its sentences
    lee, brightline = "The company's chief executive, Sandra Lee, said so.", "Who is the CEO of Brightline?"
    assert holds_office(lee, brightline, [(lee, f"Brightline will build a plant. {lee}")])
    assert not holds_office(lee, brightline, [(lee, f"Acme will build a plant. {lee}")])
    union = "Who is the president of the Nurses Union?"
    okafor, former = "Union president Gloria Okafor spoke.", "Former union president Ann Ray spoke."
    assert holds_office(okafor, union, [(okafor, f"The Nurses Union struck. {okafor}")])
    assert not holds_office(former, union, [(former, f"The Nurses Union struck. {former}")])
    us = (
        "Who is the president of the United States?"  # a union's president is no country's; "us" is no "U.S."
    )
    assert not holds_office(okafor, us, [(okafor, f"U.S. nurses struck. {okafor}")])
    assert not holds_office(
        "Its president spoke.", us, [("Its president spoke.", "Tell us. Its president spoke.")]
    )
    assert holds_office("Anything at all.", "Who confirmed the deployment?")  # no office asked about
    # "Who met the leader …" asks for someone else, not for the leader
    assert holds_office("Putin met Kim Jong-un.", "Who met the leader of North Korea?")
    assert not holds_office("Putin met Kim Jong-un.", "Who is the new leader of North Korea?")


def test_a_passage_cut_inside_a_sentence_offers_the_whole_sentence() -> None:
    """Chunk overlap starts passages mid-sentence; the fragment would lose its speaker."""
    article = (
        "North Korea sent troops.\n\nCarl Schuster, former Director of Operations at the U.S. Pacific "
        "Command, explained that they will gain experience. They may return home.\n\nA new paragraph."
    )
    start, end = article.index("Pacific"), article.index("They may") + len("They")
    sentences = [article[a:b] for a, b in passage_sentences(article, start, end, article[start:end])]
    assert sentences == [
        "Carl Schuster, former Director of Operations at the U.S. Pacific Command, explained that they will "
        "gain experience.",
        "They may return home.",
    ]
    assert passage_sentences(article, start, end, "text of an older version") == []


def test_a_snippets_dots_are_no_evidence() -> None:
    """Search snippets end in "..." that the splitter leaves as a sentence; it filled the prompt's excerpts."""
    snippet = "Jul 7, 2018 ... When the game came out, it sold well. ... Ver. 2 is out."
    quotes = [snippet[a:b] for a, b in evidence_sentences(snippet, 0, len(snippet), snippet)]
    assert quotes == ["Jul 7, 2018 ...", "When the game came out, it sold well.", "Ver.", "2 is out."]


def test_an_office_written_as_initials_is_not_taken_for_an_unknown_name(
    embedded_bot: Bot, tmp_path: Path
) -> None:
    """ "Who is Brightline's CEO?" was refused before the model as "anything about CEO"."""
    plant = "Battery plant for Dunmore\n\nBrightline chief executive Sandra Lee said the plant will open in 2027.\n"
    bot = scripted_bot_on(embedded_bot, tmp_path, {"plant.txt": plant})
    answer = ask_with_draft(
        bot, "Who is Brightline's CEO?", "Sandra Lee is Brightline's chief executive [1]."
    )
    assert not answer.refused and "Sandra Lee" in answer.text, answer.text


def test_a_claim_rests_on_a_sentence_the_model_was_shown(embedded_bot: Bot) -> None:
    """Of two sentences that state a claim, the one in the prompt is cited even when the other is the
    closer match: an answer must rest on what the model read, and resting on the other refused it (RGB:
    "Who is the CEO of Google in 2021?")."""
    from dataclasses import replace

    from bot.grounding import Grounder

    article = (
        "Google at ten\n\nSundar Pichai is the CEO of Google, the company said. The firm has offices in Paris "
        "and in Tokyo. An image shows Google CEO Sundar Pichai on stage in a jacket.\n"
    )
    passage = Passage(1, "google.txt", "Google at ten", None, article, 0, len(article), 1.0)
    grounder = Grounder(
        embedded_bot.embedder,
        support_threshold=embedded_bot.grounder.support_threshold,
        topic_threshold=embedded_bot.grounder.topic_threshold,
    )
    check = grounder.check("Who runs Google?", [passage], {"google.txt": article})
    closest, other = (
        next(e for e in check.evidence.items if e.quote.startswith(start)) for start in ("Sundar", "An image")
    )
    claim = "Sundar Pichai is the CEO of Google."
    assert grounder.support(claim, replace(check, shown=[closest, other])).evidence == closest
    assert grounder.support(claim, replace(check, shown=[other])).evidence == other


def test_a_speaker_is_named_before_a_speech_verb_in_lower_case() -> None:
    """ "States" in "the United States" is a name, not a speech verb: a claim that names the United
    States was asked to rest on a sentence naming "United"."""
    assert _speakers("Can its missiles reach the United States yet?") == set()
    assert _speakers("North Korea's missiles cannot reach the United States yet.") == set()
    assert _speakers("Lloyd Austin confirmed the deployment.") == {"Lloyd", "Austin"}
    assert _speakers("According to CNN's analysts, it is a first.") == {"CNN"}


def test_the_speaker_is_who_speaks_not_who_is_mentioned() -> None:
    """The names of the clause before the speech verb, or after "by" behind it: not the place and date
    before the comma, nor the names of what was said."""
    assert _speakers("On October 23 in Rome, Lloyd Austin confirmed that troops went to Russia.") == {
        "Lloyd",
        "Austin",
    }
    assert _speakers("The report was neither denied nor confirmed by President Vladimir Putin.") == {
        "President",
        "Vladimir",
        "Putin",
    }


def test_a_statement_is_not_given_to_someone_the_sentence_only_mentions(scripted_bot: Bot) -> None:
    """ "Lloyd Austin confirmed that North Korea has dispatched troops to Russia" names Russia, but Russia
    confirmed nothing. The rule needs no model: the model's yes does not keep the claim."""
    answer = ask_with_draft(
        scripted_bot,
        "Did Russia confirm the deployment?",
        "Yes, Russia confirmed that North Korea has dispatched troops to Russia [1].",
        verdicts=["yes"] * 4,
    )
    assert "Russia confirmed" not in answer.text, answer


def test_another_speakers_statement_does_not_negate_a_denial(scripted_bot: Bot) -> None:
    """ "Putin did not confirm it" rests on "… neither denied nor confirmed by Russian President Vladimir
    Putin". "Lloyd Austin confirmed …", as close in meaning, is someone else's word, not its opposite."""
    answer = ask_with_draft(
        scripted_bot,
        "Did Putin confirm the North Korean deployment?",
        "No, Putin did not confirm the North Korean deployment [1].",
        verdicts=["yes"] * 4,
    )
    assert not answer.refused and "did not confirm" in answer.text, answer
    assert "neither denied nor confirmed" in answer.citations[0].quote


def test_the_answer_outranks_sentences_that_restate_the_question(embedded_bot: Bot, tmp_path: Path) -> None:
    """A sentence about the question's subject in another year, or one without what the question asks
    for, is closer in meaning than the answer; ranked first, it pushed the answer out of the excerpts."""
    bot = scripted_bot_on(embedded_bot, tmp_path, {"tesla.txt": (
        "Tesla earnings\n\nTesla's Q1 2023 deliveries stood at 422,875 vehicles and it registered a total "
        "revenue of $23.3 billion. Tesla's revenue in the first quarter keeps growing. That is an 81 percent "
        "increase year over year, compared to $10.4 billion in revenue in Q1 2021. Analysts expect revenue "
        "to rise again next quarter.\n"
    )})  # fmt: skip
    question = "What was Tesla's revenue in Q1 2021?"
    check = bot.grounder.check(question, bot.retrieve(question), bot.index.texts)
    assert "$10.4 billion" in check.ranked[0][0].quote, [ev.quote for ev, _ in check.ranked]


def test_a_reminders_again_is_dropped_and_a_repeats_again_is_kept() -> None:
    assert plain_question("when did russia invade ukraine again") == "when did russia invade ukraine"
    assert plain_question("who's carl schuster, again?") == "who's carl schuster?"
    assert plain_question("How many containers did they send again ?") == "How many containers did they send?"
    for kept in (
        "When will the leaders meet again?",
        "Will Biden run again?",
        "Why did they attack again?",
        "Did the troops attack again?",
        "What happened again in Kursk?",
    ):
        assert plain_question(kept) == kept
