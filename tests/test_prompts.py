import pytest
from jinja2 import UndefinedError

from bot.answer import Passage
from bot.prompts import REFUSAL, render, template_names

PASSAGE = Passage(1, "a.txt", "Title", None, "North Korea has 1.2 million personnel.", 0, 38, 0.5)
VARIABLES = {
    "system": {"refusal": REFUSAL},
    "answer": {"passages": [PASSAGE], "question": "How large?"},
    "judge": {"passages": [PASSAGE], "claim": "North Korea has 1.2 million personnel."},
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
    assert "[1] (Title)" in render("answer", **VARIABLES["answer"])
    assert REFUSAL in render("system", **VARIABLES["system"])


def test_a_missing_variable_fails_loudly() -> None:
    with pytest.raises(UndefinedError):
        render("answer", question="no passages given")
