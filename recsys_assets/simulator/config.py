"""Every parameter of the simulator, with defaults and validation."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

OUTAGE_START_HOUR = 10
"""The tracking outage starts at this UTC hour of the middle day."""

MAX_DAILY_CANDIDATES = 50_000_000
"""Upper bound on ``requests_per_day * candidates_per_request`` (memory and Arrow offset limits)."""

_UNIT_INTERVAL_FIELDS = (
    "exploration_share",
    "click_noise",
    "logging_quality",
    "anonymous_share",
    "bot_share",
    "internal_share",
    "test_share",
    "duplicate_rate",
    "late_rate",
    "stockout_rate",
    "deletion_rate",
    "ban_rate",
    "eligibility_leak_rate",
    "visibility_unknown_rate",
    "malformed_rate",
    "correction_rate",
)


@dataclass(frozen=True)
class SimulatorConfig:
    """Parameters of one simulated log window.

    Volumes:
        seed: root of the random stream; the same config always yields identical output.
        start: first simulated UTC day; the window is ``[start, start + days)``.
        days: number of simulated days.
        requests_per_day: requests of ordinary traffic per day (user, bot, internal and test
            labels). The ``unlabeled_bot_users`` add their own 600+ requests per day on top.
        items: catalog size (items alive at some point of the window or before it).
        users: registered users.
        slate_size: items shown per request.
        candidates_per_request: distinct items retrieved per request (shown or not).
        categories: top-level categories (each has five subcategories).

    Behaviour:
        position_bias: ``eta`` of the examination curve ``P(examined | visible, k) = k ** -eta``.
        exploration_share: share of requests served by ``explore_v1`` (top slate, random order).
        click_noise: share of click probability that ignores attractiveness.
        logging_quality: weight ``L`` of true attractiveness in the logging ranker (0 = popularity).

    Traffic mix (shares of ordinary requests):
        anonymous_share: share of user-traffic requests without ``user_id``.
        bot_share, internal_share, test_share: requests labelled ``bot``, ``internal``, ``test``.
        unlabeled_bot_users: users labelled ``user`` that behave like bots (600+ requests per day).

    Dirt:
        duplicate_rate: share of events re-emitted (impressions at half, requests at a fifth of it).
        late_rate: share of events recorded 6 to 72 hours after they happened.
        outage_hours: length of the click/add-to-cart tracking outage on the middle day (0 disables).
        clock_skew_seconds: standard deviation of the client clock error on clicks and hides.
        stockout_rate: stock-outs per item per day (Poisson).
        deletion_rate: share of items deleted during the window.
        ban_rate: share of brands banned during the window.
        eligibility_leak_rate: probability that an ineligible candidate is not filtered out.
        visibility_unknown_rate: share of requests whose client does not report ``visible_ms``.
        malformed_rate: share of extra malformed rows per table and day.
        correction_rate: share of item versions recorded 1 to 48 hours after they took effect.
    """

    seed: int = 7
    start: date = date(2026, 1, 5)
    days: int = 7
    requests_per_day: int = 20_000
    items: int = 5_000
    users: int = 20_000
    slate_size: int = 30
    candidates_per_request: int = 60
    categories: int = 20
    position_bias: float = 1.0
    exploration_share: float = 0.05
    click_noise: float = 0.1
    logging_quality: float = 0.3
    anonymous_share: float = 0.15
    bot_share: float = 0.03
    internal_share: float = 0.01
    test_share: float = 0.005
    unlabeled_bot_users: int = 2
    duplicate_rate: float = 0.01
    late_rate: float = 0.02
    outage_hours: float = 3.0
    clock_skew_seconds: float = 3.0
    stockout_rate: float = 0.05
    deletion_rate: float = 0.02
    ban_rate: float = 0.02
    eligibility_leak_rate: float = 0.01
    visibility_unknown_rate: float = 0.1
    malformed_rate: float = 0.0005
    correction_rate: float = 0.05

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def end(self) -> date:
        """First day after the window."""
        return self.start + timedelta(days=self.days)

    @property
    def outage_day(self) -> int:
        """Index of the day that carries the tracking outage (the middle day)."""
        return self.days // 2

    def to_dict(self) -> dict[str, object]:
        """JSON-ready view of every parameter (dates as ISO strings)."""
        values = dataclasses.asdict(self)
        values["start"] = self.start.isoformat()
        return values


def _fail(name: str, rule: str, value: object) -> None:
    raise ValueError(f"SimulatorConfig.{name} {rule} (got {value!r})")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value: object) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _validate(config: SimulatorConfig) -> None:
    """Raise ``ValueError`` naming the first field that breaks its rule."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.type == "int" and not _is_int(value):
            _fail(field.name, "must be an int", value)
        if field.type == "float" and not _is_finite_number(value):
            _fail(field.name, "must be a finite number", value)
    if not isinstance(config.start, date) or isinstance(config.start, datetime):
        _fail("start", "must be a datetime.date (not a datetime)", config.start)
    if config.seed < 0:
        _fail("seed", "must be >= 0", config.seed)
    if not 1 <= config.days <= 3660:
        _fail("days", "must be between 1 and 3660", config.days)
    minimums = {"requests_per_day": 1, "slate_size": 1, "categories": 2, "users": 100}
    for name, minimum in minimums.items():
        if getattr(config, name) < minimum:
            _fail(name, f"must be >= {minimum}", getattr(config, name))
    if config.candidates_per_request < config.slate_size:
        _fail("candidates_per_request", "must be >= slate_size", config.candidates_per_request)
    if config.items < 2 * config.candidates_per_request:
        _fail("items", "must be >= 2 * candidates_per_request", config.items)
    if config.requests_per_day * config.candidates_per_request > MAX_DAILY_CANDIDATES:
        _fail(
            "requests_per_day",
            f"times candidates_per_request must be <= {MAX_DAILY_CANDIDATES}",
            config.requests_per_day,
        )
    if not 0 <= config.unlabeled_bot_users <= config.users // 10:
        _fail("unlabeled_bot_users", "must be between 0 and users // 10", config.unlabeled_bot_users)
    for name in _UNIT_INTERVAL_FIELDS:
        if not 0.0 <= getattr(config, name) <= 1.0:
            _fail(name, "must be between 0 and 1", getattr(config, name))
    labelled = config.bot_share + config.internal_share + config.test_share
    if labelled > 1.0:
        _fail("bot_share", "plus internal_share plus test_share must be <= 1", labelled)
    if config.position_bias < 0:
        _fail("position_bias", "must be >= 0", config.position_bias)
    if config.clock_skew_seconds < 0:
        _fail("clock_skew_seconds", "must be >= 0", config.clock_skew_seconds)
    if not 0 <= config.outage_hours <= 24 - OUTAGE_START_HOUR:
        _fail("outage_hours", f"must be between 0 and {24 - OUTAGE_START_HOUR}", config.outage_hours)
