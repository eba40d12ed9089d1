"""The demo's evidence step: clean passes, drift is caught, two versions are compared."""

from __future__ import annotations

from pathlib import Path

from demo.evidence import DRIFTED_FEATURE, show_evidence


def test_show_evidence(tmp_path: Path) -> None:
    # GIVEN the demo's training baseline WHEN the evidence step runs
    lines: list[str] = []
    evidence = show_evidence(tmp_path, log=lines.append)
    # THEN the clean batch passed, the shifted feature was named, and the report was written
    assert evidence.clean_passed
    assert evidence.drift_caught
    assert f"data quality: {DRIFTED_FEATURE} (drift " in evidence.drift_line
    assert evidence.comparison_verdict == "pass"
    assert evidence.reports["comparison"].read_text().count("xychart-beta") == 2
    assert "violations" in evidence.reports["drifted"].read_text()
    # ... and what it printed is five plain lines (the Markdown stays in the report files)
    assert len(lines) == 5 and not any("|" in line for line in lines)
