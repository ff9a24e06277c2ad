"""The grounder's yes/no checks: a probability of yes from the bundled model, a plain reply elsewhere."""

from __future__ import annotations

import pytest

from bot import Bot

EVIDENCE = (
    "With a military strength of approximately 1.2 million personnel, North Korea boasts the fourth "
    "largest army in the world, though it largely lacks combat experience."
)


@pytest.mark.slow
def test_the_bundled_model_is_asked_for_a_probability_of_yes(embedded_bot: Bot) -> None:
    true = embedded_bot.ask_model(
        "entail", claim="North Korea has about 1.2 million soldiers.", evidence=EVIDENCE
    )
    false = embedded_bot.ask_model(
        "entail", claim="North Korea has about 5 million soldiers.", evidence=EVIDENCE
    )
    assert true is not None and false is not None
    assert 0.5 < true <= 1.0 and 0.0 <= false < 0.5


@pytest.mark.parametrize(("reply", "expected"), [("Yes.", 1.0), ("no", 0.0), ("Perhaps", None)])
def test_a_backend_without_probabilities_answers_with_its_reply(
    scripted_bot: Bot, reply: str, expected: float | None
) -> None:
    scripted_bot.backend.verdicts = [reply]  # type: ignore[attr-defined] - the ScriptedBackend of conftest
    assert scripted_bot.ask_model("entail", claim="x", evidence="y") == expected
