"""Alert delivery: every failed or warning asset check becomes one alert.

Sinks: always a JSON-lines log (``RECSYS_HOME/alerts.jsonl``); additionally an HTTP POST
of the same JSON body to ``RECSYS_ALERT_WEBHOOK`` when it is set. An alert's id is the
check execution's id in the Dagster instance, and the sensor's cursor only moves past
alerts that were delivered, so each alert is delivered once.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recsys_assets.config import load_settings


@dataclass(frozen=True)
class Alert:
    id: int
    asset: str
    check: str
    partition: str | None
    severity: str          # ERROR | WARN
    message: str
    metrics: dict[str, Any]
    run_id: str
    timestamp: float

    def body(self) -> dict[str, Any]:
        return asdict(self)


def deliver(alert: Alert, log_path: Path, webhook: str | None = None, timeout: float = 10.0) -> None:
    """Append the alert to the JSON-lines log, then POST it to the webhook if one is set.
    Raises when the webhook does not answer 2xx, so the caller can retry later."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(alert.body(), sort_keys=True, default=str)
    already = log_path.is_file() and any(json.loads(x).get("id") == alert.id for x in log_path.read_text().splitlines() if x)
    if not already:
        with log_path.open("a") as f:
            f.write(line + "\n")
    if webhook:
        request = urllib.request.Request(webhook, data=line.encode(), method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "recsys-assets"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook {webhook} answered {response.status}")


def webhook_url() -> str | None:
    return load_settings().alert_webhook or None
