"""QARTOD QC flags by number and by name, and the ``qc=`` filter that selects them.

The numbers are what ``observations.qc_flag`` stores (IOOS QARTOD); the names are what people read.
"""

from __future__ import annotations

from services.api.errors import ApiError

QC_FLAG_NAMES: dict[int, str] = {1: "good", 2: "not_evaluated", 3: "suspect", 4: "fail", 9: "missing"}
QC_FLAG_MEANINGS: dict[int, str] = {
    1: "passed every QC test that ran",
    2: "no QC test has evaluated the reading yet",
    3: "a test found it questionable (use with care)",
    4: "a test found it wrong",
    9: "the station reported no value",
}
_BY_NAME = {name: flag for flag, name in QC_FLAG_NAMES.items()}
QC_SETS: dict[str, tuple[int, ...]] = {
    "good": (1,),
    "usable": (1, 2),
    "not_failed": (1, 2, 3),
    "all": tuple(sorted(QC_FLAG_NAMES)),
}
QC_HELP = (
    "QC flags to keep: a set name (good = 1; usable = good + not_evaluated; not_failed = usable + suspect; "
    "all) or a comma list of flag names or numbers (good 1, not_evaluated 2, suspect 3, fail 4, missing 9)"
)


def parse_qc(text: str | None, default: str) -> tuple[int, ...]:
    """``"good"``, ``"usable"``, ``"1,3"`` or ``"good,suspect"`` → the sorted flag numbers."""
    words = [w.strip().lower() for w in (text or default).split(",") if w.strip()]
    flags: set[int] = set()
    for word in words:
        if word in QC_SETS:
            flags.update(QC_SETS[word])
        elif word in _BY_NAME:
            flags.add(_BY_NAME[word])
        elif word.isdigit() and int(word) in QC_FLAG_NAMES:
            flags.add(int(word))
        else:
            known = ", ".join([*QC_SETS, *(f"{n} ({f})" for f, n in QC_FLAG_NAMES.items())])
            raise ApiError(f"qc: unknown QC flag or set {word!r}; use one of {known}")
    if not flags:
        raise ApiError("qc: no QC flag selected")
    return tuple(sorted(flags))


def describe_flags(flags: tuple[int, ...]) -> list[dict]:
    return [{"flag": f, "name": QC_FLAG_NAMES[f], "meaning": QC_FLAG_MEANINGS[f]} for f in flags]
