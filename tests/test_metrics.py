from bot.metrics import (
    citation_precision,
    faithfulness,
    invented_facts,
    key_facts_present,
    refusal_scores,
    retrieval_scores,
    token_f1,
)

SOURCE = "With a military strength of approximately 1.2 million personnel, North Korea boasts a large army."


def test_hallucinated_number_lowers_faithfulness_and_is_an_invented_fact() -> None:
    assert invented_facts("North Korea has 1.5 million personnel [1].", [SOURCE]) == ["1.5e+06"]
    assert invented_facts("North Korea has 1.2 million personnel [1].", [SOURCE]) == []
    assert invented_facts("Macron praised North Korea.", [SOURCE]) == ["Macron"]
    assert faithfulness([True, False]) == 0.5 < faithfulness([True, True])


def test_wrong_citation_lowers_citation_precision() -> None:
    assert citation_precision(["1.2 million personnel"], [SOURCE]) == 1.0
    assert citation_precision(["1.2 million personnel", "13,000 containers"], [SOURCE]) == 0.5


def test_refusing_an_answerable_item_lowers_refusal_precision() -> None:
    clean = refusal_scores([(True, True), (False, False)])
    wrong = refusal_scores([(True, True), (False, True)])
    assert clean["refusal_precision"] == 1.0 and wrong["refusal_precision"] == 0.5
    assert wrong["refusal_recall"] == 1.0


def test_correctness_and_retrieval_metrics() -> None:
    assert key_facts_present("It has over 13,000 containers.", ["13,000"]) == 1.0
    assert key_facts_present("It has many containers.", ["13,000"]) == 0.0
    assert key_facts_present("The two leaders met 2 times.", ["twice"]) == 1.0
    assert key_facts_present("It began on 24 October.", ["October 24"]) == 0.0
    # a fact given as a list is stated by any of its forms (RGB's accepted spellings of a date)
    assert key_facts_present("Announced Oct 19, 2021 [1].", [["October 19 2021", "Oct 19, 2021"]]) == 1.0
    assert key_facts_present("Announced in 2021 [1].", [["October 19 2021", "Oct 19, 2021"], "Google"]) == 0.0
    assert key_facts_present("Announced in 2021 [1].", [["", " "]]) == 0.0  # a blank form states nothing
    assert key_facts_present("Chloe Zhao won best director [4].", ["Chloé Zhao"]) == 1.0  # accents aside
    assert key_facts_present("Chloé Zhao won [4].", ["Chloe Zhao"]) == 1.0
    assert token_f1("About 1.2 million personnel [1].", "About 1.2 million personnel.") == 1.0
    assert retrieval_scores(["x", SOURCE], ["1.2 million personnel"]) == {
        "hit": 1.0,
        "rr": 0.5,
        "evidence_recall": 1.0,
    }


def test_bench_plain_scores_a_run_without_unanswerable_questions_and_refuses_no_questions() -> None:
    import subprocess
    import sys
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    script = Path(__file__).parents[1] / "eval" / "bench_plain.py"
    spec = spec_from_file_location("bench_plain", script)
    bench = module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    row = {"text": "About 1.2 million [1].", "first_token": None, "total": 1.0}
    table = bench.score([{**row, "item": {"answerable": True, "key_facts": ["1.2 million"]}}], [SOURCE])
    assert table["correct answers"] == 1.0 and table["correct refusals"] == "n/a"
    assert table["first token p50 / p95 (s)"] == "n/a"

    for counts, message in [(["0", "0"], "no questions chosen"), (["-1", "2"], "must be 0 or more")]:
        args = [sys.executable, str(script), "--answerable", counts[0], "--unanswerable", counts[1]]
        done = subprocess.run(args, capture_output=True, text=True)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
