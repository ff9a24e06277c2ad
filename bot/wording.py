"""How a count is written in a message: one rule, so that "1 articles" cannot come back in one place."""


def count(n: int, noun: str) -> str:
    """ "1 article", "0 articles", "2 articles" (nouns whose plural adds an s)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
