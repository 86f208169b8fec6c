"""Screenshots of ``mlflow ui`` after ``make demo``, taken in headless Chromium: the demo pipeline's run unfolded
into its stages, then the charts of their metrics: the MSLM and SCL loss curves, and the scores.

Starts ``mlflow ui`` on the local store, finds the newest ``pipeline`` run through MLflow's REST API, then
drives Debian's Chromium (``apt-get install chromium``) through Playwright (``pip install playwright``, no
browser download). Neither is a dependency of the project.

Usage: ``python docs/mlflow_ui_screenshot.py [--store mlflow.db] [--out docs/results/mlflow_ui_demo]``
(writes ``<out>_runs.png``, ``<out>_losses.png`` and ``<out>_scores.png``)
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]  # this machine's network is closed


def api(base: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{base}/api/2.0/mlflow/{path}", data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=30).read())


def start_ui(store: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ui = subprocess.Popen([str(REPO / ".venv/bin/mlflow"), "ui", "--backend-store-uri", f"sqlite:///{store.resolve()}",
                           "--port", str(port)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{base}/health", timeout=1)
            return ui, base
        except OSError:
            time.sleep(0.2)
    ui.kill()
    sys.exit("mlflow ui did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default="mlflow.db", type=Path)
    parser.add_argument("--out", default="docs/results/mlflow_ui_demo")
    parser.add_argument("--score", default="acc_5w1s", help="the metric charts of the third screenshot")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    ui, base = start_ui(args.store)
    try:
        experiment = api(base, "experiments/get-by-name?experiment_name=tkre")["experiment"]["experiment_id"]
        runs = api(base, "runs/search", {"experiment_ids": [experiment], "max_results": 200,
                                         "order_by": ["attributes.start_time DESC"]})["runs"]
        parent = next(r for r in runs if r["info"]["run_name"] == "pipeline")
        stages = sorted(r["info"]["run_name"] for r in runs if {"key": "mlflow.parentRunId", "value": parent["info"]["run_id"]}
                        in r["data"].get("tags", []))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1800, "height": 1000})
            # the runs table: the pipeline's run, unfolded to show one run per stage, with their metrics
            page.goto(f"{base}/#/experiments/{experiment}/runs")
            page.wait_for_selector("text=pipeline", timeout=60000)
            if page.locator("button[aria-label='Close']").count():  # the assistant's panel
                page.locator("button[aria-label='Close']").first.click()
            page.get_by_text("Model training", exact=True).click()  # the sidebar of a training experiment
            page.wait_for_timeout(1000)
            page.locator("button[data-component-id*='runnamecellrenderer']").first.click()  # unfold the pipeline
            page.wait_for_selector("text=mslm", timeout=30000)
            page.wait_for_timeout(2000)
            page.screenshot(path=f"{args.out}_runs.png")
            # the charts of every run's metrics, searched: the stages' loss curves, then their scores
            page.locator("label:has(input[name='runs-view-mode'][value='CHART'])").click()
            search = page.get_by_placeholder("Search metric charts")
            for name, metric in (("losses", "loss"), ("scores", args.score)):
                search.fill(metric)
                page.wait_for_timeout(6000)
                page.screenshot(path=f"{args.out}_{name}.png")
            browser.close()
    finally:
        ui.terminate()
        ui.wait()
    print(json.dumps({"screenshots": [f"{args.out}_{n}.png" for n in ("runs", "losses", "scores")], "pipeline_run": parent["info"]["run_id"],
                      "stages": stages}))


if __name__ == "__main__":
    main()
