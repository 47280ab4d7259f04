"""Adversarial inputs: each case takes a small clean simulated log, breaks it one way, and
pins the exact outcome of `recsys validate`: a contract error (one line naming the file,
column and rule, non-zero exit, no traceback), a quarantined row with its reason and an
accounting that still adds up to the input, or an accepted input read as meant (with a
warning where a name was interpreted). Nothing in the corpus may change data silently.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import shutil
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recsys_assets.cli.main import main
from recsys_assets.ingest.reader import DayRangeError, detect_day_range
from recsys_assets.ingest.validation import validate_logs
from recsys_assets.simulator import SimulatorConfig, simulate

DAY1, DAY2 = "part-2026-01-05", "part-2026-01-06"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Two days of clean simulated logs: no malformed rows, no duplicates, no late events."""
    root = tmp_path_factory.mktemp("base")
    simulate(SimulatorConfig(days=2, requests_per_day=40, items=200, users=100, seed=11, malformed_rate=0.0,
                             duplicate_rate=0.0, late_rate=0.0), root)
    shutil.rmtree(root / "truth")
    return root


# ------------------------------------------------------------------ editing a copy of the logs


def _table(root: Path, table: str, part: str = DAY1) -> pa.Table:
    return pq.read_table(root / table / f"{part}.parquet")


def _write(root: Path, table: str, t: pa.Table, part: str = DAY1) -> None:
    pq.write_table(t, root / table / f"{part}.parquet")


def _set(t: pa.Table, column: str, row: int, value, type_: pa.DataType | None = None) -> pa.Table:
    values = t[column].to_pylist()
    values[row] = value
    type_ = type_ or t.schema.field(column).type
    return t.set_column(t.column_names.index(column), column, pa.array(values, type_))


def edit(table: str, fn: Callable[[pa.Table], pa.Table], part: str = DAY1) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        _write(root, table, fn(_table(root, table, part)), part)
    return apply


def to_csv(table: str, change: Callable[[str], str] = lambda s: s, part: str = DAY1,
           raw: Callable[[bytes], bytes] | None = None) -> Callable[[Path], None]:
    """Replace one Parquet file by the same rows as CSV, edited as text (or as bytes)."""
    def apply(root: Path) -> None:
        path = root / table / f"{part}.parquet"
        frame = pq.read_table(path).to_pandas()
        path.unlink()
        text = change(frame.to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S.%f"))
        data = raw(text.encode()) if raw else text.encode()
        (root / table / f"{part}.csv").write_bytes(data)
    return apply


def rename_file(table: str, new: str, part: str = DAY1) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        target = root / table / new
        target.parent.mkdir(parents=True, exist_ok=True)
        (root / table / f"{part}.parquet").rename(target)
    return apply


def rename_column(table: str, old: str, new: str) -> Callable[[Path], None]:
    return edit(table, lambda t: t.rename_columns([new if c == old else c for c in t.column_names]))


def add_column(table: str, name: str, value) -> Callable[[Path], None]:
    return edit(table, lambda t: t.append_column(name, pa.array([value] * t.num_rows)))


def replace_in_first_data_row(column_index: int, value: str) -> Callable[[str], str]:
    """CSV text edit: the first data row's field ``column_index`` becomes ``value``."""
    def change(text: str) -> str:
        lines = text.split("\n")
        fields = lines[1].split(",")
        fields[column_index] = value
        lines[1] = ",".join(fields)
        return "\n".join(lines)
    return change


# ------------------------------------------------------------------ expected outcomes


@dataclass(frozen=True)
class Error:
    """`recsys validate` exits non-zero with this text on one line, and no traceback."""
    text: str


@dataclass(frozen=True)
class Quarantined:
    """The row is quarantined with this reason; the accounting adds up."""
    table: str
    reason: str
    rows: int = 1


@dataclass(frozen=True)
class Accepted:
    """Validation passes; ``warning`` (if set) is among its warnings; ``check`` holds on the report."""
    warning: str | None = None
    check: Callable | None = None


def _validate_cli(root: Path) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(out):
        code = main(["validate", str(root), "--max-quarantine-rate", "1"])
    return code, out.getvalue()


def _file_rows(root: Path, table: str) -> int:
    total = 0
    for path in (root / table).rglob("*"):
        if any(part.startswith(("_", ".")) for part in path.relative_to(root / table).parts):
            continue  # skipped by discovery (with a warning)
        if path.is_file() and path.suffix.lower() in (".parquet", ".parq"):
            total += pq.read_metadata(path).num_rows
        elif path.is_file() and path.name.lower().endswith((".csv", ".csv.gz")):
            data = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
            total += max(0, len(data.rstrip(b"\n").split(b"\n")) - 1)
    return total


def _outcomes(report) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for table, outcome, rows in report.accounting:
        out.setdefault(table, {})[outcome] = int(rows)
    return out


def _expect(root: Path, expected) -> None:
    if isinstance(expected, Error):
        code, text = _validate_cli(root)
        lines = text.strip().splitlines()
        assert code != 0 and "Traceback" not in text and len(lines) <= 2, text  # the line, and a heading for file problems
        assert [line for line in lines if expected.text in line], text
        return
    report = validate_logs(root)
    assert not report.problems, [str(p) for p in report.problems]
    outcomes = _outcomes(report)
    for table in ("requests", "impressions", "events", "candidates"):  # every input row is accounted for once
        assert sum(outcomes.get(table, {}).values()) == _file_rows(root, table), (table, outcomes.get(table))
    reasons = {(t, r): n for t, r, n, _ in report.reasons}
    if isinstance(expected, Quarantined):
        assert reasons.get((expected.table, expected.reason)) == expected.rows, reasons
    else:
        assert not reasons, reasons
        if expected.warning:
            assert [w for w in report.warnings if expected.warning in str(w)], [str(w) for w in report.warnings]
        if expected.check:
            expected.check(report)


def _filtered_requests(report) -> int:
    return _outcomes(report)["requests"].get("filtered", 0)


CASES: dict[str, tuple[Callable[[Path], None], object]] = {
    # ---- file discovery: nothing skipped without a word
    "parquet suffix in capitals": (rename_file("events", f"{DAY1}.PARQUET"), Accepted()),
    "parquet suffix .parq": (rename_file("events", f"{DAY1}.parq"), Accepted()),
    "a folder starting with _ is skipped with a warning": (
        rename_file("events", f"_staging/{DAY1}.parquet"), Accepted(warning="1 file(s) skipped, under a name starting")),
    "a stray text file is skipped with a warning": (
        lambda root: (root / "events" / "README.txt").write_text("notes"), Accepted(warning="not a data file")),
    "a file named like a glob is refused": (rename_file("events", "part-*.parquet"), Error("holds a glob character")),
    "a file name with brackets is refused": (rename_file("events", "part-[1].parquet"), Error("holds a glob character")),
    # ---- column names
    "optional column in other case is read, with a warning": (
        rename_column("requests", "traffic", "Traffic"), Accepted(warning="read as 'traffic'")),
    "required column in other case is read": (rename_column("events", "item_id", "ITEM_ID"), Accepted(warning="read as 'item_id'")),
    "two columns differing only in case are refused": (
        add_column("requests", "Traffic", "user"), Error("column names differ only in case")),
    "a column named like the reader's file column is refused": (
        add_column("events", "__recsys_file", "x"), Error("reserved by the reader")),
    "a column named filename is ignored with a warning": (add_column("events", "filename", "x"), Accepted(warning="filename")),
    "a missing required column is an error": (
        edit("events", lambda t: t.drop_columns(["item_id"])), Error("column 'item_id': required column is missing")),
    "a required column of the wrong type is an error": (
        edit("impressions", lambda t: t.set_column(t.column_names.index("position"), "position",
                                                   pc.cast(t["position"], pa.float64()))),
        Error("column 'position': type DOUBLE cannot hold a int")),
    # ---- numbers written as text are read as Parquet would hold them
    "a fractional CSV position is unparseable, not rounded": (
        to_csv("impressions", replace_in_first_data_row(2, "2.5")), Quarantined("impressions", "unparseable:position")),
    "a hexadecimal CSV position is unparseable": (
        to_csv("impressions", replace_in_first_data_row(2, "0x10")), Quarantined("impressions", "unparseable:position")),
    "a CSV position with a digit separator is unparseable": (
        to_csv("impressions", replace_in_first_data_row(2, "1_000")), Quarantined("impressions", "unparseable:position")),
    "a CSV integer with a zero fraction is read": (to_csv("impressions", replace_in_first_data_row(2, "1.0")), Accepted()),
    "a CSV visible_ms of nan is unparseable": (
        to_csv("impressions", replace_in_first_data_row(4, "nan")), Quarantined("impressions", "unparseable:visible_ms")),
    "a CSV event value of inf is unparseable": (
        to_csv("events", replace_in_first_data_row(6, "inf")), Quarantined("events", "unparseable:value")),
    "a Parquet event value of NaN is unparseable": (
        edit("events", lambda t: _set(t, "value", 0, float("nan"), pa.float64())), Quarantined("events", "unparseable:value")),
    "a Parquet propensity of +inf is unparseable": (
        edit("impressions", lambda t: _set(t, "propensity", 0, float("inf"), pa.float64())),
        Quarantined("impressions", "unparseable:propensity")),
    # ---- values out of range are rows to quarantine, not a failed day
    "a position beyond 32 bits is quarantined": (
        edit("impressions", lambda t: _set(pc_cast(t, "position", pa.int64()), "position", 0, 2**33)),
        Quarantined("impressions", "invalid_value:position")),
    "a position of zero is quarantined": (
        edit("impressions", lambda t: _set(t, "position", 0, 0)), Quarantined("impressions", "invalid_value:position")),
    "a retrieval rank beyond 32 bits is quarantined": (
        edit("candidates", lambda t: _set(pc_cast(t, "retrieval_rank", pa.int64()), "retrieval_rank", 0, 2**40)),
        Quarantined("candidates", "invalid_value:retrieval_rank")),
    "a negative visible_ms is quarantined": (
        edit("impressions", lambda t: _set(t, "visible_ms", 0, -5)), Quarantined("impressions", "invalid_value:visible_ms")),
    "a propensity above 1 is quarantined": (
        edit("impressions", lambda t: _set(t, "propensity", 0, 1.5, pa.float64())),
        Quarantined("impressions", "invalid_value:propensity")),
    "an unknown event type is quarantined": (
        edit("events", lambda t: _set(t, "type", 0, "like")), Quarantined("events", "invalid_value:type")),
    "an unknown traffic class is quarantined": (
        edit("requests", lambda t: _set(t, "traffic", 0, "robot")), Quarantined("requests", "invalid_value:traffic")),
    "a null event id is quarantined": (
        edit("events", lambda t: _set(t, "event_id", 0, None)), Quarantined("events", "missing_required:event_id")),
    "an unparseable CSV timestamp is quarantined": (
        to_csv("events", replace_in_first_data_row(1, "yesterday")), Quarantined("events", "unparseable:ts")),
    "an empty-string event id is missing, as in CSV": (
        edit("events", lambda t: _set(t, "event_id", 0, "")), Quarantined("events", "missing_required:event_id")),
    "an empty-string item id of an impression is missing": (
        edit("impressions", lambda t: _set(t, "item_id", 0, "")), Quarantined("impressions", "missing_required:item_id")),
    "an impression of an unknown request is quarantined": (
        edit("impressions", lambda t: _set(t, "request_id", 0, "no-such-request")), Quarantined("impressions", "unknown_request")),
    "an event of an unknown request is kept, unattributed": (
        edit("events", lambda t: _set(t, "request_id", 0, "no-such-request")), Accepted()),
    "a conflicting duplicate event id is quarantined": (
        edit("events", lambda t: pa.concat_tables([t, _set(t.slice(0, 1), "item_id", 0, "another-item")])),
        Quarantined("events", "conflicting_duplicate:event_id")),
    "an exact duplicate event is counted as a duplicate": (
        edit("events", lambda t: pa.concat_tables([t, t.slice(0, 1)])),
        Accepted(check=lambda report: _outcomes(report)["events"].get("duplicate") == 1)),
    # ---- time: skew, order, the future
    "an impression shown an hour before its request is quarantined": (
        edit("impressions", lambda t: _set(t, "ts", 0, _request_ts(t) - dt.timedelta(hours=1), t.schema.field("ts").type)),
        Quarantined("impressions", "impression_precedes_request")),
    "an impression shown two hours after its request is quarantined": (
        edit("impressions", lambda t: _set(t, "ts", 0, _request_ts(t) + dt.timedelta(hours=2), t.schema.field("ts").type)),
        Quarantined("impressions", "impression_long_after_request")),
    "a request dated next year is quarantined as in the future": (
        edit("requests", lambda t: _set(t, "ts", 0, dt.datetime(2027, 6, 1))), Quarantined("requests", "ts_in_future")),
    "a CSV timestamp with an offset is converted to UTC": (
        to_csv("events", replace_in_first_data_row(1, "2026-01-05 12:00:00+02:00")), Accepted()),
    "a required timestamp stored as an integer is an error": (
        edit("events", lambda t: t.set_column(t.column_names.index("ts"), "ts", pa.array(range(t.num_rows), pa.int64()))),
        Error("column 'ts': type BIGINT cannot hold a timestamp")),
    # ---- other tables
    "a negative item price is quarantined": (
        edit("items", lambda t: _set(t, "price", 0, -1.0, pa.float64()), part="items"), Quarantined("items", "invalid_value:price")),
    "an unknown item status is quarantined": (
        edit("items", lambda t: _set(t, "status", 0, "gone"), part="items"), Quarantined("items", "invalid_value:status")),
    "an item version without valid_from is quarantined": (
        edit("items", lambda t: _set(t, "valid_from", 0, None), part="items"), Quarantined("items", "missing_required:valid_from")),
    "an outage ending before it starts is quarantined": (
        edit("outages", lambda t: _set(t, "end_ts", 0, t["start_ts"][0].as_py() - dt.timedelta(hours=1)), part="outages"),
        Quarantined("outages", "invalid_value:end_ts")),
    "a user listed twice with other content is quarantined": (
        edit("users", lambda t: pa.concat_tables([t, _set(t.slice(0, 1), "segment", 0, "another")]), part="users"),
        Quarantined("users", "conflicting_duplicate:user_id")),
    "a candidate of an unknown request is quarantined": (
        edit("candidates", lambda t: _set(t, "request_id", 0, "no-such-request")), Quarantined("candidates", "unknown_request")),
    "two items at one position of a slate: the second is quarantined": (
        edit("impressions", lambda t: pa.concat_tables([t, _set(_set(t.slice(0, 1), "item_id", 0, "i-extra"), "event_id", 0, "e-x")])),
        Quarantined("impressions", "position_conflict")),
    "one item at two positions of a slate: the lower is quarantined": (
        edit("impressions", lambda t: pa.concat_tables([t, _set(_set(t.slice(0, 1), "position", 0, 99), "event_id", 0, "e-x")])),
        Quarantined("impressions", "item_repeated_in_slate")),
    "an optional column with no values at all is read as missing": (
        edit("events", lambda t: t.set_column(t.column_names.index("value"), "value", pa.nulls(t.num_rows))), Accepted()),
    "a required table without files is an error": (
        lambda root: shutil.rmtree(root / "events"), Error("required table has no .parquet or .csv files")),
    "a CSV with Windows line endings is read": (to_csv("events", lambda s: s.replace("\n", "\r\n")), Accepted()),
    "a CSV header naming a column twice is refused": (
        to_csv("events", lambda s: s.replace("item_id", "type", 1)), Error("column names differ only in case (or repeat)")),
    "a gzip CSV file is read": (
        lambda root: _gzip_csv(root, "events"), Accepted()),
    # ---- engine errors are one line naming the file
    "a corrupt Parquet page is one line naming the file": (
        lambda root: _corrupt(root / "events" / f"{DAY1}.parquet"), Error(f"events/{DAY1}.parquet")),
    "a non-UTF-8 byte deep in a CSV is one line naming the file": (
        to_csv("events", lambda s: s + "e-bad,2026-01-05 10:00:00.0,click,i\x00,u1,r1,,\n",
               raw=lambda b: b.replace(b"i\x00", b"i\xff\xfe")), Error("not utf-8 encoded")),
    "a ragged CSV row is one line naming the file": (to_csv("events", lambda s: s + "a,b\n"), Error(f"events/{DAY1}.csv")),
    "a stray quote inside an unquoted CSV field is kept as a character": (
        to_csv("events", replace_in_first_data_row(3, 'i"7')), Accepted()),
    "an empty CSV file (header only) is read as no rows": (
        lambda root: (root / "events" / "part-empty.csv").write_text("event_id,ts,type,item_id\n"), Accepted()),
    "a zero-byte file is one line naming the file": (
        lambda root: (root / "events" / "part-empty.parquet").write_bytes(b""), Error("part-empty.parquet")),
}


def _request_ts(impressions: pa.Table) -> dt.datetime:
    """The logged time of the request of the first impression row (simulated impressions carry it)."""
    return impressions["ts"][0].as_py()


def _gzip_csv(root: Path, table: str) -> None:
    path = root / table / f"{DAY1}.parquet"
    text = pq.read_table(path).to_pandas().to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S.%f")
    path.unlink()
    with gzip.open(root / table / f"{DAY1}.csv.gz", "wt") as f:
        f.write(text)


def pc_cast(t: pa.Table, column: str, type_: pa.DataType) -> pa.Table:
    return t.set_column(t.column_names.index(column), column, pc.cast(t[column], type_))


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = b"\x00" * 64
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", list(CASES))
def test_adversarial_input(name, base, tmp_path):
    mutate, expected = CASES[name]
    root = tmp_path / "logs"
    shutil.copytree(base, root)
    mutate(root)
    _expect(root, expected)


def test_the_unchanged_logs_are_clean(base):
    _expect(base, Accepted())


def test_the_case_insensitive_traffic_column_keeps_bot_traffic_out_of_user_counts(base, tmp_path):
    logged_bots = sum(v not in (None, "user") for v in _table(base, "requests")["traffic"].to_pylist())
    assert logged_bots > 0
    root = tmp_path / "logs"
    shutil.copytree(base, root)
    rename_column("requests", "traffic", "Traffic")(root)
    assert _filtered_requests(validate_logs(root)) == _filtered_requests(validate_logs(base))


def test_stray_timestamps_do_not_plan_thousands_of_partitions(base, tmp_path):
    root = tmp_path / "logs"
    shutil.copytree(base, root)
    assert detect_day_range(root) == (dt.date(2026, 1, 5), dt.date(2026, 1, 7))
    edit("requests", lambda t: _set(t, "ts", 0, dt.datetime(2100, 1, 1)))(root)  # future: left out
    assert detect_day_range(root) == (dt.date(2026, 1, 5), dt.date(2026, 1, 7))
    edit("requests", lambda t: _set(t, "ts", 1, dt.datetime(1970, 1, 2)))(root)
    with pytest.raises(DayRangeError, match=r"requests span 1970-01-02 .. 2026-01-06 \(20,459 days.*1970-01-02 \(1 request\)"):
        detect_day_range(root)


def test_a_request_id_reused_two_days_later_is_quarantined_and_the_first_request_keeps_its_rows(base, tmp_path):
    root = tmp_path / "logs"
    shutil.copytree(base, root)
    first = _table(root, "requests")
    reused = _set(first.slice(0, 1), "ts", 0, first["ts"][0].as_py() + dt.timedelta(days=2))
    _write(root, "requests", reused, "part-2026-01-07")
    report = validate_logs(root)
    assert {(t, r): n for t, r, n, _ in report.reasons} == {("requests", "reused_request_id"): 1}
    assert _outcomes(report)["impressions"] == _outcomes(validate_logs(base))["impressions"]


def test_a_narrower_rebuild_counts_every_raw_row_once(base):
    from recsys_assets.assets.direct import build_groups, connect
    from recsys_assets.assets.sources import build_raw_logs
    from recsys_assets.config import PipelineConfig, load_settings

    con = connect()
    days = [dt.date(2026, 1, 5), dt.date(2026, 1, 6)]
    build_groups(con, base, days, PipelineConfig(), ["sources", "clean"])
    narrower = load_settings().model_copy(update={"logs": base, "start_date": days[0], "end_date": days[1]})
    build_raw_logs(con, narrower)  # the 6th is now out of range, and still has its partitions
    for table in ("requests", "impressions", "events", "candidates"):
        raw = con.execute("SELECT sum(rows) FROM raw_logs WHERE source_table = ?", [table]).fetchone()[0]
        accounted = con.execute("SELECT sum(rows) FROM row_accounting WHERE source_table = ?", [table]).fetchone()[0]
        assert accounted == raw == _file_rows(base, table), table


def test_a_write_that_fails_for_lack_of_disk_reports_that_not_the_failed_rollback():
    """DuckDB ends the transaction itself when a write hits a full disk; the ROLLBACK that
    follows fails with 'no transaction is active'. The user must see the disk error."""
    import duckdb

    from recsys_assets.warehouse.tables import write_atomically

    class FullDisk:
        def execute(self, statement, params=None):
            if statement.startswith("BEGIN"):
                return self
            if statement == "ROLLBACK":
                raise duckdb.TransactionException("cannot rollback - no transaction is active")
            raise duckdb.IOException('Could not write file "warehouse.duckdb.wal": No space left on device')

        def fetchall(self):
            return []

    with pytest.raises(duckdb.IOException, match="No space left on device") as err:
        write_atomically(FullDisk(), "clean/row_accounting/build", {"day": None, "table": "events"})
    assert "cannot rollback" not in str(err.value)
