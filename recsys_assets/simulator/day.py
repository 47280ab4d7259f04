"""One simulated day, from requests to the files of the day.

A day's requests are drawn at once; retrieval, serving and behaviour then run on blocks of
``BLOCK_REQUESTS`` requests, each block becoming one row group of the day's candidate,
truth and impression files. Blocks keep the working arrays small (reused by the allocator
instead of freshly mapped) and let the writer threads start early. The day's requests, whole,
also make the day's ``truth/requests`` file (the inputs of their utility, see ``tables``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from .arrays import IdSequence, string_array
from .behaviour import Impressions, behave, click_probability, examination_probability, show
from .config import SimulatorConfig
from .dirt import (
    EVENT_CORRUPTIONS,
    IMPRESSION_CORRUPTIONS,
    IMPRESSION_DUPLICATE_FACTOR,
    REQUEST_CORRUPTIONS,
    REQUEST_DUPLICATE_FACTOR,
    Window,
    duplicate,
    log_events,
    malform,
)
from .frame import NULL_INT32, ConsecutiveIds, Frame, concat, take
from .ledger import Ledger
from .lifecycle import DayIndex
from .retrieval import Pools, build_pools, retrieve
from .serving import (
    Assessment,
    Rankers,
    Served,
    assess,
    calibrate_intercept,
    day_rankers,
    policy_codes,
    policy_labels,
    rank,
)
from .tables import (
    attractiveness_table,
    candidates_table,
    events_table,
    impressions_table,
    requests_table,
    truth_requests_table,
)
from .timebase import US_PER_DAY
from .traffic import Requests, generate_requests
from .vocabulary import DEVICES, INELIGIBILITY_REASONS, TRAFFIC, USER_TRAFFIC
from .world import World
from .writer import ParquetSink, TableStream

BLOCK_REQUESTS = 16_384
PROGRESS_REPORTS_PER_DAY = 4

Progress = Callable[[str, float], None]


class DayRunner:
    """Carries the state that spans days: id counters, calibration, pending late events, truth."""

    def __init__(
        self,
        config: SimulatorConfig,
        world: World,
        window: Window,
        sink: ParquetSink,
        ledger: Ledger,
        id_digits: dict[str, int],
        progress: Progress,
    ) -> None:
        self.config = config
        self.world = world
        self.window = window
        self.sink = sink
        self.ledger = ledger
        self.progress = progress
        self.request_ids = IdSequence("r", id_digits["request"])
        self.session_ids = IdSequence("s", id_digits["session"])
        self.event_ids = IdSequence("e", id_digits["event"])
        self.utility_moments: tuple[float, float] | None = None
        self.intercept: float | None = None
        self.depth_counts = np.zeros((len(DEVICES), config.slate_size + 1), np.int64)
        """Scroll-depth histogram of human requests per device, for the examination truth."""
        self.examined_counts = np.zeros((len(DEVICES), config.slate_size), np.int64)
        """Examined impressions of human requests per device and position (latent draws)."""
        self.shown_counts = np.zeros((len(DEVICES), config.slate_size), np.int64)
        """Impressions of human requests per device and position."""
        self.policies = policy_labels(config)
        """Values of ``requests.policy``."""
        self.rankers: Rankers | None = None
        self._pending: dict[int, list[Frame]] = defaultdict(list)

    def run(self, day: int, seed: np.random.SeedSequence) -> None:
        """Simulate day ``day`` and queue its files."""
        config, world = self.config, self.world
        traffic_seed, pools_seed, requests_seed, events_seed, blocks_seed = seed.spawn(5)
        name = (config.start + timedelta(days=day)).isoformat()
        self.rankers = day_rankers(config, day, len(world.catalog.quality))
        day_start = self.window.start_us + day * US_PER_DAY
        self._report("traffic", day, 0.0)
        requests = generate_requests(
            config,
            world.catalog,
            world.population,
            day_start,
            self.request_ids.next,
            self.session_ids.next,
            np.random.default_rng(traffic_seed),
        )
        request_matrix = self.request_ids.take(requests.size)
        self.session_ids.reserve(int(requests.session.max()) + 1 - self.session_ids.next)
        self._record_requests(requests)
        self._queue_requests(name, requests, request_matrix, np.random.default_rng(requests_seed))
        self.sink.write(
            "truth/requests",
            f"truth/requests/part-{name}.parquet",
            lambda: truth_requests_table(requests, string_array(request_matrix), world),
        )

        index = world.timeline.day_index(day_start, day_start + US_PER_DAY)
        pools = build_pools(config, world.catalog, index.snapshot >= 0, np.random.default_rng(pools_seed))
        streams = {
            table: self.sink.stream(table, f"{table}/part-{name}.parquet")
            for table in ("candidates", "truth/attractiveness", "impressions")
        }
        starts = range(0, requests.size, BLOCK_REQUESTS)
        malformed: dict[str, int] = defaultdict(int)
        report_every = max(1, len(starts) // PROGRESS_REPORTS_PER_DAY)
        for number, (start, block_seed) in enumerate(
            zip(starts, blocks_seed.spawn(len(starts)), strict=True)
        ):
            if number % report_every == 0:
                self._report("serving", day, 0.1 + 0.8 * number / len(starts))
            stop = min(start + BLOCK_REQUESTS, requests.size)
            block = requests.slice(start, stop)
            request_ids = string_array(request_matrix[start:stop])
            last = stop == requests.size
            self._run_block(block, request_ids, index, pools, streams, block_seed, malformed, last)
        for stream in streams.values():
            stream.close()
        self._report("logging", day, 0.9)
        self._queue_events(day, name, np.random.default_rng(events_seed))

    def _run_block(
        self,
        requests: Requests,
        request_ids: pa.StringArray,
        index: DayIndex,
        pools: Pools,
        streams: dict[str, TableStream],
        seed: np.random.SeedSequence,
        malformed: dict[str, int],
        last: bool,
    ) -> None:
        """Retrieve, serve and show one block of requests, and log what happens."""
        config, world = self.config, self.world
        retrieval_rng, assess_rng, rank_rng, show_rng, behaviour_rng, logging_rng, dirt_rng = (
            np.random.default_rng(s) for s in seed.spawn(7)
        )
        candidates = retrieve(config, world.catalog, requests, pools, retrieval_rng)
        assessment = assess(config, requests, candidates, world.catalog, world.timeline, index, assess_rng)
        if self.utility_moments is None:
            self.utility_moments = (float(assessment.utility.mean()), float(assessment.utility.std()))
        assert self.rankers is not None
        served = rank(
            config,
            requests,
            candidates,
            assessment,
            world.catalog,
            self.utility_moments,
            self.rankers,
            rank_rng,
        )
        impressions = show(config, requests, candidates, served, show_rng)
        if self.intercept is None:
            shown_to_people = impressions.candidate[requests.human[impressions.row]]
            sample = (
                assessment.utility.ravel()[shown_to_people] if len(shown_to_people) else assessment.utility
            )
            self.intercept = calibrate_intercept(sample)
        attractiveness = assessment.attractiveness(self.intercept)
        if config.click_model in ("cascade", "dcm"):
            click_p = click_probability(
                config, requests, impressions, attractiveness.ravel()[impressions.candidate]
            )
            exact = examination_probability(config, requests, impressions, click_p)
            impressions = replace(impressions, examination=exact)
        position = served.positions(config.candidates_per_request)
        examination = np.zeros(position.shape, np.float64)
        examination.ravel()[impressions.candidate] = impressions.examination
        streams["candidates"].append(lambda: candidates_table(candidates, request_ids, world))
        streams["truth/attractiveness"].append(
            lambda: attractiveness_table(
                candidates, request_ids, world, attractiveness, position, examination
            )
        )
        self._record_block(assessment, impressions)
        self._queue_impressions(
            requests, served, impressions, request_ids, streams["impressions"], dirt_rng, malformed, last
        )

        events = behave(
            config,
            requests,
            impressions,
            attractiveness.ravel()[impressions.candidate],
            world.catalog,
            world.timeline,
            behaviour_rng,
        )
        self._record_examination(requests, impressions, events.examined)
        log = log_events(config, events, requests, self.window, self.event_ids, logging_rng, self.ledger)
        for target in np.unique(log["file_day"]):
            self._pending[int(target)].append(take(log, np.flatnonzero(log["file_day"] == target)))

    def _queue_impressions(
        self,
        requests: Requests,
        served: Served,
        impressions: Impressions,
        request_ids: pa.StringArray,
        stream: TableStream,
        rng: np.random.Generator,
        malformed: dict[str, int],
        last: bool,
    ) -> None:
        """Queue a block of impressions with its duplicates and malformed rows.

        ``malformed`` counts the day's malformed rows per kind so far; the last block of the
        day makes sure every kind appears at least once in the day's file.
        """
        config, row = self.config, impressions.row
        frame: Frame = {
            "request_id": row,
            "item_id": impressions.item,
            "position": impressions.position,
            "ts": impressions.ts_us,
            "visible_ms": np.where(requests.visibility_unknown[row], NULL_INT32, impressions.visible_ms),
            "propensity": served.propensity[row, impressions.position - 1],
            "source": impressions.source,
            "event_id": self._event_id_range(impressions.size),
        }
        copies, copied = duplicate(frame, config.duplicate_rate * IMPRESSION_DUPLICATE_FACTOR, rng)
        ensure = {kind for kind in IMPRESSION_CORRUPTIONS if malformed[kind] == 0} if last else set()
        extra, counts = malform(
            frame, IMPRESSION_CORRUPTIONS, "event_id", self.event_ids, config.malformed_rate, rng, ensure
        )
        for kind, count in counts.items():
            malformed[kind] += count
        self._count_dirt("impressions", copied, counts)
        parts = [frame, *copies, *extra]
        world = self.world
        stream.append(
            lambda: pa.concat_tables([impressions_table(part, request_ids, world) for part in parts])
        )

    def _event_id_range(self, count: int) -> ConsecutiveIds:
        ids = self.event_ids
        return ConsecutiveIds(ids.prefix, ids.reserve(count), count, ids.digits)

    def _report(self, stage: str, day: int, within: float) -> None:
        self.progress(stage, (day + within) / self.config.days)

    def _record_requests(self, requests: Requests) -> None:
        """Count the day's traffic mix and accumulate the scroll-depth histogram of people."""
        ledger = self.ledger
        for code, label in enumerate(TRAFFIC):
            ledger.add("dirt", "traffic", label, count=int(np.count_nonzero(requests.traffic == code)))
        ledger.add("dirt", "anonymous_requests", count=int(np.count_nonzero(requests.user < 0)))
        unlabeled = requests.scripted & (requests.traffic == USER_TRAFFIC)
        ledger.add("dirt", "unlabeled_bots", "requests", count=int(unlabeled.sum()))
        ledger.add("dirt", "exploration_requests", count=int(requests.explore.sum()))
        ledger.add("dirt", "visibility_unknown_requests", count=int(requests.visibility_unknown.sum()))
        human = requests.human
        cells = (
            requests.device[human].astype(np.int64) * (self.config.slate_size + 1)
            + requests.scroll_depth[human]
        )
        self.depth_counts += np.bincount(cells, minlength=self.depth_counts.size).reshape(
            self.depth_counts.shape
        )

    def _record_examination(
        self, requests: Requests, impressions: Impressions, examined: NDArray[np.bool_]
    ) -> None:
        """Count shown and examined impressions of people per device and position."""
        human = requests.human[impressions.row]
        slots = self.config.slate_size
        cells = (
            requests.device[impressions.row[human]].astype(np.int64) * slots + impressions.position[human] - 1
        )
        size = self.shown_counts.size
        self.shown_counts += np.bincount(cells, minlength=size).reshape(self.shown_counts.shape)
        self.examined_counts += np.bincount(cells[examined[human]], minlength=size).reshape(
            self.examined_counts.shape
        )

    def _record_block(self, assessment: Assessment, impressions: Impressions) -> None:
        """Count ineligible candidates that leaked through the filter, and those shown."""
        shown = np.bincount(assessment.reason.ravel()[impressions.candidate] + 1, minlength=6)
        leaked = np.bincount(assessment.reason[assessment.leaked] + 1, minlength=6)
        for code, reason in enumerate(INELIGIBILITY_REASONS):
            self.ledger.add("dirt", "ineligible_shown", reason, count=int(shown[code + 1]))
            self.ledger.add("dirt", "ineligible_candidates_leaked", reason, count=int(leaked[code + 1]))

    def _queue_requests(
        self, name: str, requests: Requests, request_matrix: NDArray[np.uint8], rng: np.random.Generator
    ) -> None:
        config = self.config
        frame: Frame = {
            "request_id": request_matrix,
            "ts": requests.ts_us,
            "user_id": requests.user,
            "session_id": requests.session,
            "surface": requests.surface,
            "query": requests.query,
            "device": requests.device,
            "region": requests.region,
            "policy": policy_codes(config, requests, self.rankers.version if self.rankers else 0),
            "is_exploration": requests.explore,
            "traffic": requests.traffic,
        }
        copies, copied = duplicate(frame, config.duplicate_rate * REQUEST_DUPLICATE_FACTOR, rng)
        extra, malformed = malform(
            frame, REQUEST_CORRUPTIONS, "request_id", self.request_ids, config.malformed_rate, rng
        )
        self._count_dirt("requests", copied, malformed)
        digits = self.session_ids.digits
        parts = [frame, *copies, *extra]
        self.sink.write(
            "requests",
            f"requests/part-{name}.parquet",
            lambda: pa.concat_tables(
                [requests_table(part, self.world, digits, self.policies) for part in parts]
            ),
        )

    def _queue_events(self, day: int, name: str, rng: np.random.Generator) -> None:
        """Write every event filed under ``day``: its own and late ones of earlier days."""
        parts = self._pending.pop(day, [])
        frame = concat(parts) if parts else _empty_events(self.event_ids.digits)
        extra, malformed = malform(
            frame, EVENT_CORRUPTIONS, "event_id", self.event_ids, self.config.malformed_rate, rng
        )
        for kind, count in malformed.items():
            self.ledger.add("dirt", "malformed", "events", kind, count=count)
        frame = concat([frame, *extra])
        del frame["file_day"]
        frame = take(frame, np.argsort(frame["recorded_at"], kind="stable"))
        digits = self.request_ids.digits
        self.sink.write(
            "events", f"events/part-{name}.parquet", lambda: events_table(frame, self.world, digits)
        )

    def _count_dirt(self, table: str, copies: int, malformed: dict[str, int]) -> None:
        self.ledger.add("dirt", "duplicates", table, count=copies)
        for kind, count in malformed.items():
            self.ledger.add("dirt", "malformed", table, kind, count=count)


def _empty_events(digits: int) -> Frame:
    """An events frame without rows (a day on which nothing was filed)."""
    empty = np.zeros(0, np.int64)
    return {
        "event_id": np.zeros((0, 1 + digits), np.uint8),
        "ts": empty,
        "type": np.zeros(0, np.int8),
        "item_id": np.zeros(0, np.int32),
        "user_id": np.zeros(0, np.int32),
        "request_id": empty,
        "value": np.zeros(0, np.float64),
        "recorded_at": empty,
        "file_day": np.zeros(0, np.int32),
    }
