"""The input contract: tables, columns, logical types and row rules (DESIGN section 4).

This module is data, not behaviour: the reader (``recsys_assets.ingest.reader``) uses it to build
typed source views and to check files, the clean SQL in ``sql/clean/`` enforces the row
rules, and README's contract section is written from the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LogicalType = Literal["string", "timestamp", "int", "float", "bool"]

# DuckDB type each logical type is read as.
DUCKDB_TYPE: dict[LogicalType, str] = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
}

# Physical column types (DuckDB's names, as read from Parquet) accepted for each logical type
# without a row-level cast. VARCHAR is accepted everywhere: values that do not parse are
# quarantined row by row. Anything else is a file-level error.
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "HUGEINT"}
_FLOATS = {"FLOAT", "DOUBLE", "REAL"}
ACCEPTED_PHYSICAL: dict[LogicalType, set[str]] = {
    "string": {"VARCHAR"} | _INTEGERS,
    "timestamp": {"VARCHAR", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "TIMESTAMP WITH TIME ZONE", "DATE"},
    "int": {"VARCHAR"} | _INTEGERS,
    "float": {"VARCHAR"} | _INTEGERS | _FLOATS,
    "bool": {"VARCHAR", "BOOLEAN"},
}


@dataclass(frozen=True)
class Column:
    name: str
    type: LogicalType
    required: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    required: bool = True
    doc: str = ""
    time_column: str | None = None  # the column that assigns a row to a daily partition
    allowed_values: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


EVENT_TYPES = ("click", "add_to_cart", "purchase", "hide", "report", "return")
TRAFFIC_CLASSES = ("user", "bot", "internal", "test")
ITEM_STATUSES = ("active", "deleted", "banned")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "requests",
            (
                Column("request_id", "string", True, "unique id of a served request"),
                Column("ts", "timestamp", True, "when the request was served (UTC)"),
                Column("user_id", "string", doc="null = anonymous"),
                Column("session_id", "string"),
                Column("surface", "string", doc="default 'search'"),
                Column("query", "string"),
                Column("device", "string"),
                Column("region", "string"),
                Column("policy", "string", doc="logging ranker / version"),
                Column("is_exploration", "bool", doc="served by a randomized policy; default false"),
                Column("traffic", "string", doc="'user' | 'bot' | 'internal' | 'test'; default 'user'"),
            ),
            time_column="ts",
            allowed_values={"traffic": TRAFFIC_CLASSES},
        ),
        Table(
            "impressions",
            (
                Column("request_id", "string", True),
                Column("item_id", "string", True),
                Column("position", "int", True, "1-based slot"),
                Column("ts", "timestamp", doc="default: the request's ts"),
                Column("visible_ms", "int", doc="null = visibility unknown; 0 = never scrolled into view"),
                Column("propensity", "float", doc="P(logging policy showed this item here); null = unknown"),
                Column("source", "string", doc="candidate source"),
                Column("event_id", "string", doc="default: request_id|item_id|position"),
            ),
            time_column="ts",
        ),
        Table(
            "events",
            (
                Column("event_id", "string", True),
                Column("ts", "timestamp", True),
                Column("type", "string", True, "click | add_to_cart | purchase | hide | report | return"),
                Column("item_id", "string", True),
                Column("user_id", "string"),
                Column("request_id", "string", doc="attribution; null = unattributed"),
                Column("value", "float"),
                Column("recorded_at", "timestamp", doc="when the event became known; default ts"),
            ),
            time_column="ts",
            allowed_values={"type": EVENT_TYPES},
        ),
        Table(
            "items",
            (
                Column("item_id", "string", True),
                Column("valid_from", "timestamp", True, "one row per version of an item's state"),
                Column("category", "string"),
                Column("subcategory", "string"),
                Column("brand", "string"),
                Column("price", "float"),
                Column("in_stock", "bool", doc="default true"),
                Column("status", "string", doc="'active' | 'deleted' | 'banned'; default 'active'"),
                Column("regions", "string", doc="comma list; null = everywhere"),
                Column("age_restricted", "bool", doc="default false"),
                Column("dedup_group", "string"),
                Column("recorded_at", "timestamp", doc="when this version became known; default valid_from"),
            ),
            allowed_values={"status": ITEM_STATUSES},
        ),
        Table(
            "candidates",
            (
                Column("request_id", "string", True),
                Column("item_id", "string", True),
                Column("source", "string"),
                Column("retrieval_rank", "int"),
                Column("retrieval_score", "float"),
            ),
            required=False,
            doc="generated candidates, shown or not",
        ),
        Table(
            "outages",
            (
                Column("start_ts", "timestamp", True),
                Column("end_ts", "timestamp", True),
                Column("surface", "string", doc="null = every surface"),
                Column("event_types", "string", doc="comma list; null = every event type"),
            ),
            required=False,
        ),
        Table(
            "users",
            (
                Column("user_id", "string", True),
                Column("segment", "string"),
                Column("region", "string"),
                Column("created_at", "timestamp"),
                Column("age_verified", "bool", doc="may see age-restricted items; default false"),
            ),
            required=False,
        ),
    )
}

FILE_SUFFIXES = (".parquet", ".parq", ".csv", ".csv.gz")
