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

LOGGERS = ("deterministic", "plackett_luce")
EXPLORATION_DESIGNS = ("shuffle", "topk_shuffle", "adjacent_swap")
CLICK_MODELS = ("pbm", "cascade", "dcm", "trust_bias")
MAX_LOGGING_POLICIES = 26
"""Logging policies are lettered ``a`` to ``z``."""


def parse_numbers(text: str) -> tuple[float, ...]:
    """The numbers of a comma-separated list such as ``"0.9, 0.8,0.7"`` (empty text: none)."""
    return tuple(float(part) for part in text.split(",")) if text.strip() else ()


def per_position(text: str, size: int) -> tuple[float, ...]:
    """``size`` values from a per-position list: value ``k`` for position ``k``, the last one repeated."""
    values = parse_numbers(text)
    return tuple(values[min(k, len(values) - 1)] for k in range(size))


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
        position_bias: ``eta`` of the examination curve ``P(examined | visible, k) = k ** -eta``
            (click models ``pbm`` and ``trust_bias``).
        exploration_share: share of requests served by the exploration policy (see
            ``exploration_design``); ``requests.is_exploration`` is true for them.
        click_noise: share of click probability that ignores attractiveness.
        logging_quality: weight ``L`` of true attractiveness in the logging ranker (0 = popularity).

    Logging policies (see ``serving``):
        logging_policies: number of logging rankers; each request is assigned to one by a hash
            of its number (A/B buckets of equal size). With one policy (and no version changes)
            the ranker is ``ranker_v3``; with several they are ``ranker_v3_a``, ``ranker_v3_b``,
            ... (``requests.policy``). At most 26.
        logging_qualities: comma-separated ``L`` per policy (one value applies to all); empty
            = ``logging_quality`` for every policy.
        logging_noises: comma-separated standard deviation of each policy's per-request score
            noise (one value applies to all); empty = 0.5 for every policy.
        ranker_versions_change_every_days: every this many days each policy ships a new
            version (``ranker_v4...``, ``ranker_v5...``), with a new item offset (see
            ``ranker_item_noise``); 0 = never.
        ranker_item_noise: standard deviation of a per-item score offset fixed for each ranker
            version (what that version got wrong), so that rankers order the same items
            differently. Applies only when there is more than one ranker (several policies or
            versions); the single default ranker has none.
        logger: ``deterministic`` (the top scores in score order; ``impressions.propensity``
            is null outside exploration) or ``plackett_luce`` (the slate is sampled without
            replacement with probabilities proportional to ``exp(score / logger_temperature)``;
            ``impressions.propensity`` is the exact probability that the logger chose that
            item at that position given the items it had placed above, i.e. the Plackett-Luce
            factor ``exp(s_i / T) / sum_{j not above} exp(s_j / T)``; at position 1 this is
            the marginal probability, below it is the conditional one; the product over
            positions ``1..k`` is the probability of the logged top ``k``).
        logger_temperature: temperature ``T`` of the Plackett-Luce logger (> 0; lower is
            closer to deterministic).

    Exploration (``exploration_share`` of requests; the slate of the request's own logging
    policy is perturbed; ``impressions.propensity`` is the probability of the item at that
    position under the design, given the slate the design perturbs):
        exploration_design: ``shuffle`` (policy ``explore_v1``: the whole slate in uniformly
            random order, propensity ``1 / n``), ``topk_shuffle`` (``explore_top<k>_v1``:
            positions ``1..k`` in random order, propensity ``1 / min(k, n)`` there and 1 below)
            or ``adjacent_swap`` (``explore_swap_v1``: one adjacent pair of positions, chosen
            uniformly among the ``n - 1``, is swapped; the two swapped items have propensity
            ``1 / (n - 1)``, the others ``1 - m / (n - 1)`` where ``m`` is the number of
            adjacent pairs their position belongs to: 1 at either end of the slate, else 2).
        exploration_top_k: ``k`` of ``topk_shuffle``.

    Click models (``P(click)`` of a shown item at position ``k``, ``a`` its attractiveness
    after ``click_noise``; scripted bots click anywhere with probability 0.1 in every model):
        click_model: ``pbm`` (examination ``theta_k = [k <= depth] k ** -position_bias``, then
            click with ``a``), ``cascade`` (scan from the top to the scroll depth, click with
            ``a``, stop after the first click), ``dcm`` (dependent click model: like cascade,
            but after a click at ``k`` the scan goes on with probability ``dcm_continuation``
            of ``k``) or ``trust_bias`` (``theta_k (eps_plus_k a + eps_minus_k (1 - a))``).
        dcm_continuation: comma-separated continuation probability after a click, per
            position from 1 (the last value repeats below).
        trust_eps_plus: comma-separated ``eps_plus_k`` per position (last value repeats).
        trust_eps_minus: comma-separated ``eps_minus_k`` per position (last value repeats).

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
    logging_policies: int = 1
    logging_qualities: str = ""
    logging_noises: str = ""
    ranker_versions_change_every_days: int = 0
    ranker_item_noise: float = 0.3
    logger: str = "deterministic"
    logger_temperature: float = 1.0
    exploration_design: str = "shuffle"
    exploration_top_k: int = 10
    click_model: str = "pbm"
    dcm_continuation: str = "0.9,0.8,0.7,0.6,0.5"
    trust_eps_plus: str = "1.0"
    trust_eps_minus: str = "0.3,0.2,0.15,0.1,0.05"
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

    @property
    def ranker_versions(self) -> int:
        """Number of ranker versions each logging policy goes through in the window."""
        every = self.ranker_versions_change_every_days
        return 1 if every == 0 else -(-self.days // every)

    @property
    def several_rankers(self) -> bool:
        """More than one logging ranker (policies or versions): rankers get item offsets."""
        return self.logging_policies > 1 or self.ranker_versions > 1

    def policy_values(self, text: str, default: float) -> tuple[float, ...]:
        """One value per logging policy from a comma-separated field (see ``logging_qualities``)."""
        values = parse_numbers(text) or (default,)
        return values * self.logging_policies if len(values) == 1 else values

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
        if field.type == "str" and not isinstance(value, str):
            _fail(field.name, "must be a string", value)
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
    _validate_behaviour(config)


def _choice(config: SimulatorConfig, name: str, choices: tuple[str, ...]) -> None:
    if getattr(config, name) not in choices:
        _fail(name, f"must be one of {', '.join(choices)}", getattr(config, name))


def _numbers(config: SimulatorConfig, name: str, low: float, high: float | None) -> tuple[float, ...]:
    """Parse a comma-separated field; every value must lie in ``[low, high]``."""
    text = getattr(config, name)
    bounds = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
    try:
        values = parse_numbers(text)
    except ValueError:
        _fail(name, f"must be comma-separated numbers {bounds}", text)
    if not all(math.isfinite(v) and low <= v and (high is None or v <= high) for v in values):
        _fail(name, f"must be comma-separated numbers {bounds}", text)
    return values


def _validate_behaviour(config: SimulatorConfig) -> None:
    """Logging policies, exploration designs and click models."""
    if not 1 <= config.logging_policies <= MAX_LOGGING_POLICIES:
        _fail("logging_policies", f"must be between 1 and {MAX_LOGGING_POLICIES}", config.logging_policies)
    for name, high in (("logging_qualities", 1.0), ("logging_noises", None)):
        count = len(_numbers(config, name, 0.0, high))
        if count not in (0, 1, config.logging_policies):
            _fail(
                name,
                "must have one value or one per logging policy (logging_policies)",
                getattr(config, name),
            )
    if config.ranker_versions_change_every_days < 0:
        _fail(
            "ranker_versions_change_every_days",
            "must be >= 0 (0 = never)",
            config.ranker_versions_change_every_days,
        )
    if config.ranker_item_noise < 0:
        _fail("ranker_item_noise", "must be >= 0", config.ranker_item_noise)
    _choice(config, "logger", LOGGERS)
    if config.logger_temperature <= 0:
        _fail("logger_temperature", "must be > 0", config.logger_temperature)
    _choice(config, "exploration_design", EXPLORATION_DESIGNS)
    if config.exploration_top_k < 2:
        _fail("exploration_top_k", "must be >= 2", config.exploration_top_k)
    _choice(config, "click_model", CLICK_MODELS)
    for name in ("dcm_continuation", "trust_eps_plus", "trust_eps_minus"):
        if not _numbers(config, name, 0.0, 1.0):
            _fail(
                name, "must be comma-separated numbers between 0 and 1 (at least one)", getattr(config, name)
            )
