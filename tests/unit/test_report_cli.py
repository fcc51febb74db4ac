"""``tidewatch report`` refuses a bad year before it touches a database (clear message, exit 2)."""

from __future__ import annotations

import pytest

from services.cli import main


def test_bad_year_is_refused_without_a_database(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    out = tmp_path / "r.html"
    assert main(["report", "--year", "1800", "--out", str(out)]) == 2
    assert "year 1800" in capsys.readouterr().out and not out.exists()


def test_unknown_language_is_refused(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        main(["report", "--year", "2026", "--lang", "fr", "--out", str(tmp_path / "r.html")])
    assert exc.value.code == 2 and "fr" in capsys.readouterr().err


@pytest.mark.parametrize("stamp", ["yesterday", "2027-01-02T00:00:00", "2027-13-02T00:00:00Z"])
def test_bad_stamp_is_refused_without_a_database(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stamp: str
) -> None:
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    out = tmp_path / "r.html"
    assert main(["report", "--year", "2026", "--generated-at", stamp, "--out", str(out)]) == 2
    said = capsys.readouterr().out
    assert said.startswith("report: generated_at ") and repr(stamp) in said and not out.exists()
