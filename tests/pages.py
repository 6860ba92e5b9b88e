"""What a person looks for on each page of the stack, checked in a browser (tests/browser.py).

Each check derives what it expects from the project (config/features.yaml, the DAG files) or
from the service's own API, then finds it on the rendered page.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import yaml
from playwright.sync_api import Browser, expect
from swagger_ui_bundle import swagger_ui_path

from tests.browser import STEP_TIMEOUT_S, visit

# FastAPI's /docs loads Swagger UI from this CDN, which this machine cannot reach: the browser
# gets the same files (swagger-ui-dist 5, from PyPI's swagger-ui-bundle-v2) from disk instead.
SWAGGER_UI_CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"
# The tab icon FastAPI's page names: refused, a page without it is not broken.
FASTAPI_FAVICON = "https://fastapi.tiangolo.com/img/favicon.png"
JSON_TYPES = {"float64": "number", "int64": "integer", "string": "string", "bool": "boolean"}
# Debian's Prometheus (the stand-in of prom/prometheus, tests/stand_ins.py) ships only the
# classic UI, whose packaged popper.js is an ES module that the page loads as a script:
# Bootstrap's tooltips fail, the targets table does not depend on them.
DEBIAN_PROMETHEUS_ERRORS = (
    r"^uncaught: Unexpected token 'export'$",
    r"^uncaught: Bootstrap's tooltips require Popper",
)
# Chromium's notice that a ResizeObserver could not deliver every notification within one
# frame, which MLflow's error hook logs: benign by the spec, nothing is left undrawn.
RESIZE_OBSERVER_NOTICE = (r"ResizeObserver loop completed with undelivered notifications",)


def contract_features(project: Path) -> dict[str, str]:
    """Feature name -> dtype, from the project's contract."""
    view = yaml.safe_load((project / "config" / "features.yaml").read_text())
    return {feature["name"]: feature["dtype"] for feature in view["features"]}


def project_dags(project: Path) -> list[str]:
    """The ids of the DAGs in airflow/dags: each `@dag(...)`-decorated function's name."""
    found = []
    for path in sorted((project / "airflow" / "dags").glob("*.py")):
        found += re.findall(r"^@dag\(.*?^def (\w+)\(", path.read_text(), re.DOTALL | re.MULTILINE)
    return found


def check_api_docs(browser: Browser, base: str, project: Path, screenshot: Path) -> None:
    """/docs: the POST /predict operation, its body's schema typed feature by feature."""
    cdn = {SWAGGER_UI_CDN: Path(swagger_ui_path)}
    with visit(
        browser, f"{base}/docs", screenshot, substitutes=cdn, may_leave=frozenset({FASTAPI_FAVICON})
    ) as seen:
        page = seen.page
        with seen.step("the POST /predict operation"):
            path = page.locator(".opblock-summary-path").get_by_text("/predict", exact=True)
            operation = page.locator(".opblock-post").filter(has=path)
            operation.locator(".opblock-summary").click()
        with seen.step("the request body's schema, each feature of config/features.yaml typed"):
            body = operation.locator(".opblock-section-request-body")
            body.get_by_text("Schema", exact=True).click()
            body.get_by_role("button", name="Expand all").first.click()
            for name, dtype in contract_features(project).items():
                title = page.locator(".json-schema-2020-12__title").get_by_text(name, exact=True)
                head = body.locator(".json-schema-2020-12-head").filter(has=title)
                kind = head.locator(".json-schema-2020-12__attribute--primary").first
                expect(kind).to_contain_text(JSON_TYPES[dtype])


@dataclass
class MlflowRun:
    """The run a check looks for and what it logged (from MLflow's REST API)."""

    experiment_id: str
    run_id: str
    name: str
    metrics: list[str]
    plot: str  # an artifact path, e.g. plots/roc_curve.png


def check_mlflow_run(
    browser: Browser,
    base: str,
    login: tuple[str, str],
    run: MlflowRun,
    screenshot: Path,
    plot_patience_s: float = STEP_TIMEOUT_S,
) -> None:
    """The experiment's newest run first in its runs table, its metrics, and one plot drawn
    from the artifact store (the server fetches it from the stack's S3 for the browser)."""
    runs = f"{base}/#/experiments/{run.experiment_id}/runs"
    with visit(
        browser,
        runs,
        screenshot,
        credentials=login,
        allowed_errors=RESIZE_OBSERVER_NOTICE,
    ) as seen:
        page = seen.page
        with seen.step(f"run {run.run_id} first in the experiment's runs table"):
            page.get_by_role("link", name=run.name, exact=True).first.click()
            page.wait_for_url(re.compile(rf"/runs/{run.run_id}\b"))
        with seen.step(f"the run's metrics {run.metrics}"):
            for metric in run.metrics:
                expect(page.get_by_text(metric, exact=True).first).to_be_visible()
        with seen.step(f"the artifact {run.plot} drawn as an image from the artifact store"):
            wait = plot_patience_s * 1000
            page.get_by_role("tab", name="Artifacts").click(timeout=wait)
            folder, _, name = run.plot.rpartition("/")
            page.get_by_text(folder, exact=True).first.click(timeout=wait)
            page.get_by_text(name, exact=True).first.click(timeout=wait)
            page.wait_for_function(
                "alt => [...document.images].some(i => i.alt === alt && i.naturalWidth > 0)",
                arg=run.plot,
                timeout=wait,
            )


def check_mlflow_model(
    browser: Browser, base: str, login: tuple[str, str], model: str, version: str, shot: Path
) -> None:
    """The registered model's page: `version` listed with the `production` alias."""
    page = f"{base}/#/models/{model}"
    with (
        visit(
            browser, page, shot, credentials=login, allowed_errors=RESIZE_OBSERVER_NOTICE
        ) as seen,
        seen.step(f"version {version} with the alias @ production"),
    ):
        row = seen.page.get_by_role("row").filter(
            has=seen.page.get_by_text(f"Version {version}", exact=True)
        )
        expect(row.first).to_contain_text(re.compile(r"@\s*production"))


def check_airflow(
    browser: Browser, base: str, login: tuple[str, str], project: Path, shot: Path
) -> None:
    """Signed in: the project's DAGs listed, the training DAG's latest run a success."""
    with visit(browser, base, shot) as seen:
        page = seen.page
        with seen.step("the sign-in form"):
            page.get_by_label("Username").fill(login[0])
            page.get_by_label("Password").fill(login[1])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(re.compile(r"^(?!.*/auth/login)"))
        # Before sign-in the UI asks /ui/config and gets 401: how it knows to show the form.
        seen.forget_errors()
        dags = project_dags(project)
        with seen.step(f"the DAGs {dags} listed"):
            page.get_by_role("link", name="Dags", exact=True).first.click()
            for dag in dags:
                expect(page.get_by_role("link", name=dag, exact=True).first).to_be_visible()
            page.screenshot(path=shot.with_name(f"{shot.stem}-dags.png"), full_page=True)
        with seen.step("ml_training_pipeline's latest run: Success"):
            page.get_by_role("link", name="ml_training_pipeline", exact=True).first.click()
            page.get_by_role("tab", name="Runs").or_(
                page.get_by_role("link", name="Runs")
            ).first.click()
            latest = page.locator("tbody tr").first
            expect(latest).to_contain_text("manual__")
            expect(latest).to_contain_text("Success")


def check_prometheus_targets(browser: Browser, base: str, debian: bool, shot: Path) -> None:
    """The targets page the UI links to (/targets, or /classic/targets in Debian's build):
    the API's endpoint up."""
    allowed = DEBIAN_PROMETHEUS_ERRORS if debian else ()
    with visit(browser, base, shot, allowed_errors=allowed) as seen:
        page = seen.page
        with seen.step("a link to the targets page"):
            href = page.locator("a[href$='/targets']").first.get_attribute("href")
            page.goto(urllib.parse.urljoin(page.url, href))
        with seen.step("the api job's endpoint http://api:8000/metrics UP"):
            row = page.locator("tr").filter(has_text="http://api:8000/metrics").first
            # Shown in capitals by CSS: the text itself may be "up".
            expect(row).to_contain_text(re.compile(r"\bup\b", re.IGNORECASE))


def check_drift_report(browser: Browser, report: Path, project: Path, shot: Path) -> None:
    """Evidently's HTML from disk: rendered offline, a drift widget per contract feature."""
    with visit(browser, report.as_uri(), shot) as seen:
        page = seen.page
        with seen.step("the report's Metrics tab"):
            expect(page.get_by_text("Metrics", exact=True).first).to_be_visible()
        for name in contract_features(project):
            with seen.step(f"the drift of column {name}"):
                widget = page.get_by_text(f"Drift in column '{name}'", exact=True).first
                expect(widget).to_be_attached()
        with seen.step("plots drawn (plotly's SVG)"):
            expect(page.locator("svg.main-svg").first).to_be_attached()
