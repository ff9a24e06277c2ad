"""The verifier, on hand-made drafts: unsupported sentences go, supported ones stay with verbatim quotes."""

from __future__ import annotations

from bot import Bot


def ask_with_draft(bot: Bot, question: str, draft: str, **settings: str):  # type: ignore[no-untyped-def]
    bot.backend.replies = [draft]  # type: ignore[attr-defined]
    if settings:
        from dataclasses import replace

        bot.settings = replace(bot.settings, **settings)
    return bot.ask(question)


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
    assert "1.2 million" in answer.text  # the extractive fallback quotes the real figure
    assert_quotes_verbatim(scripted_bot, answer)


def test_wrong_name_is_removed(scripted_bot: Bot) -> None:
    answer = ask_with_draft(
        scripted_bot,
        "Who confirmed in Rome that North Korea has dispatched troops to Russia?",
        "Emmanuel Macron confirmed in Rome that North Korea has dispatched troops to Russia [1].",
    )
    assert "Macron" not in answer.text
    assert answer.removed_sentences
    assert "Lloyd Austin" in answer.text
    assert_quotes_verbatim(scripted_bot, answer)


def test_lenient_mode_marks_instead_of_removing(scripted_bot: Bot) -> None:
    answer = ask_with_draft(
        scripted_bot,
        "How many nuclear tests has North Korea conducted?",
        "North Korea has conducted six nuclear tests [1]. It tested twelve rockets in Paris [1].",
        grounding="lenient",
    )
    assert "six nuclear tests" in answer.text
    assert "twelve rockets in Paris [unsupported]" in answer.text


def test_model_refusal_is_reported_as_refusal(scripted_bot: Bot) -> None:
    answer = ask_with_draft(scripted_bot, "How large is North Korea's military?", "The articles don't say.")
    assert answer.refused and answer.citations == []


def test_off_topic_and_false_premise_questions_are_refused_before_the_model(scripted_bot: Bot) -> None:
    water = ask_with_draft(
        scripted_bot, "What is the boiling point of water?", "It boils at 100 degrees [1]."
    )
    assert water.refused and water.draft == "" and water.passages  # nearest passages still returned
    china = ask_with_draft(scripted_bot, "Why did China send troops to Kursk?", "China sent troops [1].")
    assert china.refused and "China" in china.text


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
