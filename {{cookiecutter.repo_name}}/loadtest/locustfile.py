"""Locust load test of the running API: `make load-test` (see docs/serving.md).

LOAD_PROFILE=load    a steady LOAD_USERS users for LOAD_TIME (make variables); the summary
                     says whether p99 stayed under LOAD_P99_MS with no failed request.
LOAD_PROFILE=stress  adds LOAD_STEP_USERS users every LOAD_STEP_SECONDS until requests fail
                     or p99 breaks LOAD_P99_MS, then stops and reports the last good step.

Rows come from the local feature store, read once when locust starts (before the clock
runs); without a local lake, zeros over the feature view's features.
LOAD_API_KEY is sent as X-API-Key when set.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

from locust import HttpUser, LoadTestShape, between, events, task
from locust.env import Environment

PROFILE = os.environ.get("LOAD_PROFILE", "load")
P99_BUDGET_MS = float(os.environ.get("LOAD_P99_MS", "50"))
STEP_USERS = int(os.environ.get("LOAD_STEP_USERS", "8"))
STEP_SECONDS = float(os.environ.get("LOAD_STEP_SECONDS", "10"))
MAX_USERS = int(os.environ.get("LOAD_MAX_USERS", "512"))
API_KEY = os.environ.get("LOAD_API_KEY", "")
SAMPLE_ROWS = 200


def sample_rows() -> list[dict[str, Any]]:
    """Feature rows as JSON takes them (strings, booleans, null for missing values)."""
    from src.context import build_context

    context = build_context()
    names = context.view.feature_names
    try:
        frame = context.lake.read(context.view.table).to_pandas().head(SAMPLE_ROWS)
    except Exception:  # no local lake (a remote API): zeros, where the contract takes them
        return [dict.fromkeys(names, 0.0)]
    rows: list[dict[str, Any]] = json.loads(frame[names].to_json(orient="records"))
    return rows


ROWS = sample_rows()


class ApiUser(HttpUser):
    wait_time = between(0, 0.01)

    def on_start(self) -> None:
        if API_KEY:
            self.client.headers["X-API-Key"] = API_KEY

    @task(10)
    def predict(self) -> None:
        self.client.post("/predict", json={"features": random.choice(ROWS)})  # noqa: S311

    @task(1)
    def predict_batch(self) -> None:
        instances = [{"features": random.choice(ROWS)} for _ in range(32)]  # noqa: S311
        self.client.post("/predict/batch", json={"instances": instances})


class StressShape(LoadTestShape):
    """More users every step until a step breaks the budget (LOAD_PROFILE=stress).

    Each step is judged on its own requests (statistics are reset between steps).
    """

    abstract = PROFILE != "stress"  # locust runs a shape only when one is not abstract
    step = 0
    last_good_users = 0
    broke_because = ""

    def tick(self) -> tuple[int, float] | None:
        step = int(self.get_run_time() // STEP_SECONDS)
        if step != StressShape.step:
            reason = self._broken()
            if reason:
                StressShape.broke_because = reason
                return None
            StressShape.last_good_users = STEP_USERS * (StressShape.step + 1)
            StressShape.step = step
            if self.runner is not None:
                self.runner.environment.stats.reset_all()
        users = STEP_USERS * (step + 1)
        if users > MAX_USERS:
            StressShape.broke_because = f"LOAD_MAX_USERS={MAX_USERS} reached within budget"
            return None
        return users, float(STEP_USERS)

    def _broken(self) -> str:
        if self.runner is None:
            return ""
        stats = self.runner.environment.stats.total
        if stats.num_failures:
            return f"{stats.num_failures} failed requests"
        p99 = stats.get_response_time_percentile(0.99) or 0.0
        if p99 > P99_BUDGET_MS:
            return f"p99 {p99:.0f} ms over {P99_BUDGET_MS:.0f} ms"
        return ""


@events.quitting.add_listener
def print_summary(environment: Environment, **_: Any) -> None:
    total = environment.stats.total
    p50 = total.get_response_time_percentile(0.5) or 0.0
    p99 = total.get_response_time_percentile(0.99) or 0.0
    line = (
        f"load-test {PROFILE}: {total.num_requests} requests, {total.total_rps:.0f} req/s, "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, {total.num_failures} failed"
    )
    if PROFILE == "stress":
        line += (
            f" in the last step; held {StressShape.last_good_users} users, then stopped: "
            f"{StressShape.broke_because or 'run time over'}"
        )
    else:
        verdict = "within" if total.num_failures == 0 and p99 <= P99_BUDGET_MS else "OVER"
        line += f"; {verdict} the budget (p99 <= {P99_BUDGET_MS:.0f} ms, no failures)"
    print(line)  # the one-line summary make prints last
