"""The findings page (issue 15) in a real headless browser.

Debian's ``chromium`` and ``chromium-driver``, driven by ``selenium``:

* the demo (``python -m exporter`` without a broker: embedded Tansu and synthetic traffic)
  serves a page that loads without console errors, shows the findings the demo creates, whose
  runbook links all resolve, and whose JSON validates against docs/findings.schema.json; on a
  phone-sized screen nothing scrolls sideways;
* the recorded real-Kafka state with node 3 down lists exactly the expected findings
  (tests/test_findings.py works them out) and the blast-radius table;
* with basic auth on, the page, the JSON and the runbook need credentials.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import jsonschema
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from exporter.cycle import Collector
from exporter.demo.broker import free_port
from exporter.demo.traffic import COMPRESSED_TOPICS, READ_TOPICS
from tests._serving import published, serve
from tests.test_findings import EXPECTED, SCHEMA, Replay, replaying

#: what the demo sets up on purpose: every topic RF 1 on one broker without a rack, a group
#: pointed beyond the log end of `payments` ("after a data loss"), librdkafka producers with
#: their default settings (idempotence off)
DEMO_FINDINGS = {
    "durability_risk.no_failure_tolerance",
    "not_single_broker_safe",
    "not_rack_safe",
    "offset_beyond_log_end",
    "producer_can_reorder",
}


@pytest.fixture
def replayed() -> Iterator[tuple[Collector, Replay]]:
    with replaying() as found:
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromium-driver (Debian packages) are required"
    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(driver))
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()


def console_errors(browser: WebDriver) -> list[dict[str, Any]]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        assert response.headers["Content-Type"] == "application/json"
        return json.loads(response.read())


def shown(browser: WebDriver) -> dict[str, int]:
    """finding id -> object count, as the page shows them."""
    return {
        a.get_attribute("data-finding") or "": int(a.get_attribute("data-count") or -1)
        for a in browser.find_elements(By.CSS_SELECTOR, "article[data-finding]")
    }


@pytest.fixture(scope="module")
def demo() -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_INSIGHT_")}
    log = Path(f"/tmp/findings-demo-{port}.log")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--web.listen-address", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        ids: set[str] = set()
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                doc = get_json(url + "/findings.json")
                ids = {f["id"] for g in doc["groups"] for f in g["findings"]}
            except (OSError, ValueError):
                pass
            if ids >= DEMO_FINDINGS:
                break
            time.sleep(1)
        assert ids >= DEMO_FINDINGS, (ids, log.read_text()[-2000:])
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.unlink(missing_ok=True)


def test_demo_page_shows_the_demos_findings_without_console_errors(browser: WebDriver, demo: str) -> None:
    browser.get(demo + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "What is at risk in Kafka now"
    assert console_errors(browser) == []
    on_page = shown(browser)
    assert set(on_page) >= DEMO_FINDINGS
    tolerance = browser.find_element(By.ID, "finding-durability_risk.no_failure_tolerance").get_attribute("textContent") or ""
    for topic in (*READ_TOPICS, *COMPRESSED_TOPICS):  # every demo topic has 1 replica
        assert f"{topic} (1 replica" in tolerance, topic
    beyond = browser.find_element(By.ID, "finding-offset_beyond_log_end").text
    assert "replay-after-loss" in beyond and "payments/" in beyond
    # the blast radius of the demo's only broker: every partition goes offline with it
    row = browser.find_element(By.CSS_SELECTOR, "table[data-table=broker_id] tr:nth-child(2)").text.split()
    assert row[1:3] == ["(rack", "unknown)"] and int(row[3]) == on_page["not_single_broker_safe"] > 0
    # the sources of the demo are listed and up
    assert "admin" in browser.find_element(By.TAG_NAME, "main").text


def test_every_runbook_link_resolves(browser: WebDriver, demo: str) -> None:
    browser.get(demo + "/")
    links = sorted(
        {a.get_attribute("href") or "" for a in browser.find_elements(By.CSS_SELECTOR, 'article a[href*="/runbook#"]')}
    )
    assert len(links) >= len(DEMO_FINDINGS) - 1  # not_rack_safe shares a section
    for link in links:
        assert link.startswith(demo + "/runbook#"), link
        browser.get(link)
        anchor = link.split("#", 1)[1]
        section = browser.find_element(By.ID, anchor)
        assert "What to do." in section.text, link
        assert console_errors(browser) == [], link


def test_demo_json_validates_against_its_schema(demo: str) -> None:
    doc = get_json(demo + "/findings.json")
    jsonschema.validate(doc, SCHEMA)
    assert doc["ready"] is True and doc["cycle_finished"] >= doc["cycle_started"]
    assert {f["id"] for g in doc["groups"] for f in g["findings"]} >= DEMO_FINDINGS


def test_the_page_reads_on_a_phone(browser: WebDriver, demo: str) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True}
    )
    try:
        browser.get(demo + "/")
        width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width  # nothing scrolls sideways (wide tables scroll inside)
        size = browser.execute_script("return parseFloat(getComputedStyle(document.querySelector('.statement')).fontSize)")
        assert size >= 14
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_recorded_broker_down_state_lists_exactly_the_expected_findings(
    browser: WebDriver, replayed: tuple[Collector, Replay]
) -> None:
    collector, replay = replayed
    server = serve(collector)
    port = server.server_address[1]
    try:
        for state in ("healthy", "broker3-down"):
            replay.state = state
            collector.collect_once()
        published(server)
        browser.get(f"http://127.0.0.1:{port}/")
        assert console_errors(browser) == []
        expected = EXPECTED["broker3-down"]
        assert shown(browser) == {fid: len(items) for fid, items in expected.items()}
        for fid, items in expected.items():
            text = browser.find_element(By.ID, f"finding-{fid}").get_attribute("textContent") or ""
            assert all(item in text for item in items), fid  # folded ones included
        rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "table[data-table=broker_id] tr")][1:]
        assert rows == ["1 (rack r1) 3 13 3 0", "2 (rack r2) 4 13 4 0"]
        assert (
            "Survives any one broker? acks=all writes: 20 partitions break · reads: 7 partitions break"
            in browser.page_source.replace("</span>", "").replace('<span class="nok">', "")
        )
    finally:
        server.shutdown()


def test_basic_auth_guards_the_page(browser: WebDriver, replayed: tuple[Collector, Replay], tmp_path: Path) -> None:
    collector, _ = replayed
    password = "s3cret-findings"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  oncall: {hashed}\n")
    server = serve(collector, web_config_file=str(tmp_path / "web.yml"))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        collector.collect_once()
        published(server)
        for path in ("/", "/findings.json", "/runbook"):
            with pytest.raises(urllib.error.HTTPError) as denied:
                urllib.request.urlopen(url + path, timeout=10)
            assert denied.value.code == 401, path
        browser.get(url + "/")  # headless Chrome cancels the credentials prompt: an empty page
        assert "What is at risk" not in browser.page_source and not browser.find_elements(By.CSS_SELECTOR, "h1, article")
        token = base64.b64encode(f"oncall:{password}".encode()).decode()
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
        try:
            browser.get(url + "/")
            assert browser.find_element(By.TAG_NAME, "h1").text == "What is at risk in Kafka now"
            assert shown(browser)
            jsonschema.validate(get_json(url + "/findings.json", {"Authorization": f"Basic {token}"}), SCHEMA)
        finally:
            browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
            browser.get_log("browser")  # the 401 above logged a console error: not this test's subject
    finally:
        server.shutdown()
