import pytest
from jinja2 import UndefinedError

from bot.answer import Passage
from bot.grounding import REFUSAL, Excerpt
from bot.prompts import render, template_names

SENTENCE = "North Korea has 1.2 million personnel."
PASSAGE = Passage(1, "a.txt", "Title", None, SENTENCE, 0, 38, 0.5)
VARIABLES = {
    "system": {"refusal": REFUSAL},
    "answer": {"excerpts": [Excerpt(1, "Title", SENTENCE)], "question": "How large?"},
    "judge": {"passages": [PASSAGE], "answer": SENTENCE},
    "relevance": {"question": "How large?", "answer": SENTENCE},
    "entail": {"evidence": SENTENCE, "claim": "North Korea has 1.2 million troops."},
    "answers": {"evidence": SENTENCE, "question": "How large?"},
    "correct": {"evidence": SENTENCE, "question": "How large?", "answer": "1.2 million personnel."},
    "judge_system": {},
    "generate_system": {},
    "generate_question": {"title": "Title", "sentence": SENTENCE, "answer": "1.2 million"},
    "generate_not_given": {"passage": SENTENCE, "detail": "an amount of money"},
    "generate_off_topic": {"topic": "a football match"},
    "condense": {
        "history": [{"role": "user", "content": "Who is Carl Schuster?"}],
        "question": "What did he say?",
    },
}


def test_every_prompt_file_renders() -> None:
    names = [n.removesuffix(".j2") for n in template_names()]
    assert sorted(names) == sorted(VARIABLES)
    for name in names:
        text = render(name, **VARIABLES[name])
        assert text and "{{" not in text and "{%" not in text
    assert f"[1] {SENTENCE}" in render("answer", **VARIABLES["answer"])
    assert REFUSAL in render("system", **VARIABLES["system"])


def test_a_missing_variable_fails_loudly() -> None:
    with pytest.raises(UndefinedError):
        render("answer", question="no excerpts given")
