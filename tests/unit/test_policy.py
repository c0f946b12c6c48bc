"""The decision policy: thresholds and actions per scanner."""

from dataclasses import replace

from llm_shield.streams.config import ScannerSettings, ScannersSettings
from llm_shield.streams.policy import decide
from llm_shield.streams.scanner import ScanResult
from llm_shield.streams.scanner_set import beside_toxicity


def result(risk: float) -> ScanResult:
    return ScanResult(score=risk, label="x", risk=risk)


def test_block_beats_flag_beats_allow() -> None:
    scanners = ScannersSettings(
        prompt_injection=ScannerSettings(threshold=0.5, action="block"),
        toxicity=ScannerSettings(threshold=0.5, action="flag"),
        sentiment=ScannerSettings(threshold=0.6, action="ignore"),
    )
    low = {"prompt_injection": result(0.1), "toxicity": result(0.2), "sentiment": result(0.9)}
    assert decide(low, scanners).decision == "allow"
    flag = {**low, "toxicity": result(0.7)}
    assert decide(flag, scanners).decision == "flag"
    block = {**flag, "prompt_injection": result(0.95)}
    outcome = decide(block, scanners)
    assert outcome.decision == "block"
    assert outcome.risk_score == 0.95


def test_ignored_scanner_is_reported_but_does_not_count() -> None:
    scanners = ScannersSettings()
    outcome = decide({"prompt_injection": result(0.1), "sentiment": result(0.99)}, scanners)
    assert outcome.decision == "allow"
    assert outcome.flagged["sentiment"] is True
    assert outcome.risk_score == 0.1


def test_threshold_is_inclusive_and_configurable() -> None:
    scanners = ScannersSettings()
    strict = replace(scanners, toxicity=ScannerSettings(threshold=0.3, action="block"))
    assert decide({"toxicity": result(0.3)}, strict).decision == "block"
    assert decide({"toxicity": result(0.3)}, scanners).decision == "allow"


def injection(risk: float, **fields: object) -> ScanResult:
    return ScanResult(score=risk, label="INJECTION", risk=risk, method="ml", **fields)


def toxic(risk: float) -> ScanResult:
    return ScanResult(score=risk, label="TOXIC", risk=risk, method="ml")


def test_a_toxic_prompt_is_an_injection_only_on_firmer_ground() -> None:
    """Hostility aimed at the reader lifts the injection head: where toxicity scores a prompt
    at toxic_text_threshold or more, the injection model's score alone must reach it too;
    patterns keep the usual threshold."""
    scanners = ScannersSettings()
    assert scanners.prompt_injection.toxic_text_threshold == 0.9
    cases = [
        (injection(0.72), toxic(0.97), "prompt"),  # an insult: not an injection
        (injection(0.95), toxic(0.97), "prompt"),  # firm enough: still one
        (injection(0.72), toxic(0.10), "prompt"),  # not toxic: the usual threshold
        (injection(0.72), toxic(0.75), "prompt"),  # toxic, but not surely: the usual threshold
        (injection(0.72, matched=("ignore_previous",)), toxic(0.97), "prompt"),  # patterns
        (injection(0.72), toxic(0.97), "response"),  # documents keep their threshold
        (replace(injection(0.72), method="heuristic"), toxic(0.97), "prompt"),
    ]
    judged = beside_toxicity(
        [c[0] for c in cases], [c[1] for c in cases], [c[2] for c in cases], scanners
    )
    results = {"toxicity": toxic(0.97)}
    flagged = [decide({**results, "prompt_injection": r}, scanners).flagged for r in judged]
    assert [f["prompt_injection"] for f in flagged] == [False, True, True, True, True, True, True]
    assert judged[0].threshold == 0.9 and judged[0].label == "SAFE" and judged[0].reason is None
    assert (
        judged[1].label == "INJECTION"
        and judged[1].reason == "toxic text: model score 0.95 >= 0.90"
    )
    assert judged[2:] == [c[0] for c in cases[2:]]  # untouched
    # the decision does not change: the insult is blocked for toxicity
    assert decide({**results, "prompt_injection": judged[0]}, scanners).decision == "block"


def test_toxic_text_threshold_zero_keeps_the_usual_threshold() -> None:
    scanners = ScannersSettings()
    off = replace(
        scanners, prompt_injection=replace(scanners.prompt_injection, toxic_text_threshold=0.0)
    )
    judged = beside_toxicity([injection(0.72)], [toxic(0.97)], ["prompt"], off)
    assert judged == [injection(0.72)]
    assert decide({"prompt_injection": judged[0]}, off).flagged["prompt_injection"]
