"""Closed vocabularies of the simulated logs.

Every categorical column is simulated as a small integer code and written as a
dictionary-encoded string; the tuples below map codes to the strings of the
input contract. Their order is part of the simulator's determinism.
"""

from __future__ import annotations

SURFACES: tuple[str, ...] = ("search", "home")
SEARCH, HOME = 0, 1

DEVICES: tuple[str, ...] = ("mobile", "desktop", "tablet")
MOBILE, DESKTOP, TABLET = 0, 1, 2

REGIONS: tuple[str, ...] = ("NA", "EU", "APAC", "LATAM")

POLICIES: tuple[str, ...] = ("ranker_v3", "explore_v1")
RANKER, EXPLORE = 0, 1

TRAFFIC: tuple[str, ...] = ("user", "bot", "internal", "test")
USER_TRAFFIC, BOT_TRAFFIC, INTERNAL_TRAFFIC, TEST_TRAFFIC = 0, 1, 2, 3

SEGMENTS: tuple[str, ...] = ("new", "casual", "power")

SOURCES: tuple[str, ...] = ("query", "affinity", "popular")
QUERY_SOURCE, AFFINITY_SOURCE, POPULAR_SOURCE = 0, 1, 2

STATUSES: tuple[str, ...] = ("active", "deleted", "banned")
ACTIVE, DELETED, BANNED = 0, 1, 2

EVENT_TYPES: tuple[str, ...] = ("click", "add_to_cart", "purchase", "hide", "report", "return")
CLICK, ADD_TO_CART, PURCHASE, HIDE, REPORT, RETURN = 0, 1, 2, 3, 4, 5
MALFORMED_EVENT_TYPE = "clik"

INELIGIBILITY_REASONS: tuple[str, ...] = ("deleted", "banned", "out_of_stock", "region", "age")
"""Why a candidate is not eligible, in order of precedence (the first that applies is recorded)."""

ACCOUNT_ROLES: tuple[str, ...] = (
    "organic",
    "unlabeled_bot",
    "bot_account",
    "internal_account",
    "test_account",
)
ORGANIC, UNLABELED_BOT, BOT_ACCOUNT, INTERNAL_ACCOUNT, TEST_ACCOUNT = 0, 1, 2, 3, 4

QUERY_TERMS: tuple[str, ...] = (
    "running shoes",
    "wireless headphones",
    "coffee maker",
    "yoga mat",
    "desk lamp",
    "backpack",
    "water bottle",
    "phone case",
    "rain jacket",
    "board game",
    "face cream",
    "dog food",
    "garden hose",
    "office chair",
    "kids books",
    "car charger",
    "kitchen knife",
    "bed sheets",
    "sunglasses",
    "watch strap",
)
"""Head nouns of search queries; category ``c`` uses ``QUERY_TERMS[c % len(QUERY_TERMS)]``."""

QUERY_PATTERNS: tuple[str, ...] = (
    "{code} {term}",
    "{code} {term} sale",
    "best {code} {term}",
    "cheap {code} {term}",
)
"""Each category has one distinct query string per pattern."""


def category_digits(categories: int) -> int:
    """Digits of the category labels: two, or more for over a hundred categories."""
    return max(2, len(str(categories - 1)))


def category_code(category: int, categories: int) -> str:
    """Return the category label, e.g. ``c07``."""
    return f"c{category:0{category_digits(categories)}d}"


def query_strings(categories: int) -> tuple[str, ...]:
    """All query strings; the query of category ``c`` and pattern ``p`` is at ``c * len(QUERY_PATTERNS) + p``."""
    return tuple(
        pattern.format(code=category_code(c, categories), term=QUERY_TERMS[c % len(QUERY_TERMS)])
        for c in range(categories)
        for pattern in QUERY_PATTERNS
    )
