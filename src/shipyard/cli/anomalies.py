"""`shipyard anomalies`: the platform's anomaly detector on any exported metric series."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.options import JSON
from shipyard.cli.output import console, emit, fail, print_table

app = typer.Typer(help="Anomaly detection on time series (timestamp,value CSV).", no_args_is_help=True)


@app.command("detect")
def detect_file(
    path: Path = typer.Argument(..., help="A CSV with a header `timestamp,value`, rows in time order."),
    as_json: bool = JSON,
) -> None:
    """Score every row online (each row only against the rows before it) and flag the anomalies."""
    import pandas as pd

    from shipyard.monitoring.anomaly import detect

    if not path.is_file():
        fail(f"no such file: {path}")
    try:
        frame = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{path} is not a readable CSV: {str(exc).splitlines()[0]}")
    if list(frame.columns[:2]) != ["timestamp", "value"]:
        fail(f"{path} must start with the header timestamp,value (found: {','.join(map(str, frame.columns))})")
    values = pd.to_numeric(frame["value"], errors="coerce")
    if bad := int((values.isna() & frame["value"].notna()).sum()):
        first = frame["value"][values.isna() & frame["value"].notna()].iloc[0]
        fail(f"{path}: {bad} value(s) are not numbers (first: {first!r})")
    points = detect(values.to_numpy(dtype=float))
    rows = [
        {"timestamp": str(t), "value": None if pd.isna(v) else float(v), "score": p.score, "anomaly": p.anomaly,
         "reason": p.reason}
        for t, v, p in zip(frame["timestamp"], values, points, strict=True)
    ]  # fmt: skip
    flagged = [r for r in rows if r["anomaly"]]

    def human() -> None:
        if flagged:
            shown = [{**r, "value": f"{r['value']:.6g}"} for r in flagged]
            print_table(shown, ["timestamp", "value", "score", "reason"], title=f"anomalies in {path.name}")
        console.print(f"{len(flagged)} anomalies in {len(rows)} rows", highlight=False)

    emit(rows, as_json, human)
