"""The decision policy: thresholds and actions per scanner."""

from dataclasses import replace

from llm_shield.streams.config import ScannerSettings, ScannersSettings
from llm_shield.streams.policy import decide
from llm_shield.streams.scanner import ScanResult


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
