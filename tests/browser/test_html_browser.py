"""The HTML report in a real browser: Debian's headless Chromium, driven over WebDriver by selenium.

selenium with Debian's ``chromium-driver`` was chosen because the driver comes from the same source package as
the browser (their versions always match) and selenium is a pure-Python wheel: nothing is downloaded at run time.
Screenshots land in ``reports/browser/`` (kept as a CI artifact).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.html_records import HOSTILE, sample_record
from helm_eval.report import Baseline, CaseDelta, write_html

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOTS = REPO_ROOT / "reports" / "browser"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")  # fmt: skip


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install chromium chromium-driver; see .ci/install-ci-tools.sh)"
        if os.environ.get("HELM_EVAL_REQUIRE_CI_TOOLS") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chromium, chromedriver = _tool("chromium"), _tool("chromedriver")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(browser: Any, path: Path) -> None:
    browser.get(path.as_uri())
    assert browser.execute_script("return document.body.dataset.ready") == "1"


def rows(browser: Any) -> list[Any]:
    return list(browser.find_elements("css selector", "#table tbody tr"))


def status_of(row: Any) -> str:
    return str(row.find_element("css selector", "td.st").text)


def test_filter_to_failed_cases_and_open_one(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.support.select import Select

    record = sample_record(60)
    page = tmp_path / "report.html"
    write_html(record, page)
    open_page(browser, page)
    assert len(rows(browser)) == 60
    assert browser.find_element("id", "shown").text == "60 of 60"
    Select(browser.find_element("id", "f-status")).select_by_value("failed")
    failed = [c for c in record.cases if c.status == "failed"]
    shown = rows(browser)
    assert len(shown) == len(failed) > 0
    assert {status_of(r) for r in shown} == {"failed"}
    Select(browser.find_element("id", "f-suite")).select_by_value("suites/billing.yaml")
    assert len(rows(browser)) == sum(1 for c in failed if c.suite == "suites/billing.yaml")
    Select(browser.find_element("id", "f-suite")).select_by_value("")
    rows(browser)[0].click()
    view = browser.find_element("id", "case")
    assert view.is_displayed()
    first = failed[0]
    assert view.find_element("css selector", "h2").text == first.nodeid
    assert "FAIL not-icontains" in view.text
    assert first.output[:40] in view.find_element("css selector", "pre.output").text
    assert "You are a billing assistant." in view.text
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "failed-case.png"))
    assert (SHOTS / "failed-case.png").stat().st_size > 10_000


def test_model_output_with_script_stays_text(browser: Any, tmp_path: Path) -> None:
    record = sample_record(8, hostile_at=2)
    page = tmp_path / "hostile.html"
    write_html(record, page)
    open_page(browser, page)
    assert browser.execute_script("return window.__pwned") is None  # no payload ran
    assert browser.find_elements("css selector", "img") == []  # and none became an element
    search = browser.find_element("id", "f-text")
    search.send_keys("onerror")
    (row,) = rows(browser)
    assert HOSTILE in row.text
    row.click()
    output = browser.find_element("css selector", "#case pre.output")
    assert output.get_attribute("textContent") == f"Here you go: {HOSTILE}"
    assert HOSTILE in browser.find_element("id", "case").text  # prompt, reason and id shown literally too
    assert browser.execute_script("return window.__pwned") is None
    assert browser.find_elements("css selector", "img") == []


def test_keyboard_only(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    page = tmp_path / "keys.html"
    write_html(sample_record(30), page)
    open_page(browser, page)
    body = browser.find_element("tag name", "body")
    body.send_keys("/")  # "/" focuses the search box
    active = browser.switch_to.active_element
    assert active.get_attribute("id") == "f-text"
    active.send_keys("case-0014")
    (row,) = rows(browser)
    browser.execute_script("arguments[0].focus()", row)
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    view = browser.find_element("id", "case")
    assert view.is_displayed()
    assert "case-0014" in view.find_element("css selector", "h2").text
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert not view.is_displayed()
    assert browser.switch_to.active_element.get_attribute("data-index") == "14"  # focus back on its row


def test_phone_width_and_dark_mode(browser: Any, tmp_path: Path) -> None:
    page = tmp_path / "phone.html"
    write_html(sample_record(40), page)
    browser.set_window_size(390, 844)
    try:
        open_page(browser, page)
        # nothing wider than the screen except inside the table's own scroll box
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
        light = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
        )
        dark = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert (light, dark) == ("rgb(255, 255, 255)", "rgb(13, 17, 23)")
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / "phone-dark.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        browser.set_window_size(1280, 900)


def test_baseline_column_and_diff(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.support.select import Select

    head = sample_record(20)
    target = head.cases[3]  # a failed case
    head.cases[3].output = "The refund was issued today."
    deltas = {target.nodeid: CaseDelta("regressed", "The refund was issued yesterday.", "passed"),
              head.cases[0].nodeid: CaseDelta("unchanged", head.cases[0].output, "passed")}  # fmt: skip
    page = tmp_path / "baseline.html"
    write_html(head, page, baseline=Baseline(sample_record(20, seed=9), deltas, label="main"))
    open_page(browser, page)
    assert "vs main:" in browser.find_element("id", "delta").text
    headers = [th.text for th in browser.find_elements("css selector", "#table th")]
    assert "change vs base" in headers
    Select(browser.find_element("id", "f-change")).select_by_value("regressed")
    (row,) = rows(browser)
    row.click()
    view = browser.find_element("id", "case")
    assert view.find_element("css selector", "pre.base-output").text == "The refund was issued yesterday."
    assert [e.text for e in view.find_elements("css selector", ".diff del")] == ["yesterday."]
    assert [e.text for e in view.find_elements("css selector", ".diff ins")] == ["today."]
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "baseline-diff.png"))


def test_a_conversation_and_its_tool_calls_are_shown_as_text(browser: Any, tmp_path: Path) -> None:
    record = sample_record(3)
    case = record.cases[0]
    case.transcript = [
        {"role": "user", "content": "book a table", "turn": 1},
        {"role": "assistant", "content": "for how many?", "turn": 1},
        {"role": "user", "content": f"two {HOSTILE}", "turn": 2},
        {"role": "assistant", "content": "", "turn": 2, "error": "HTTP 500"},
    ]
    case.tool_calls = [{"name": "book", "arguments": {"people": 2, "note": HOSTILE}, "turn": 2}]
    page = tmp_path / "conversation.html"
    write_html(record, page)
    open_page(browser, page)
    browser.find_element("id", "f-text").send_keys(case.nodeid)
    rows(browser)[0].click()
    view = browser.find_element("id", "case")
    headings = [h.text for h in view.find_elements("css selector", "h3")]
    assert {"Conversation", "Tool calls"} <= set(headings)
    shown = view.get_attribute("textContent")
    for expected in ("assistant · turn 2", "HTTP 500", f"two {HOSTILE}"):
        assert expected in shown
    (call,) = view.find_elements("css selector", "pre.tool-call")
    assert '"people": 2' in call.get_attribute("textContent")
    assert json.dumps(HOSTILE)[1:-1] in call.get_attribute("textContent")  # the JSON of the call, as text
    assert browser.execute_script("return window.__pwned") is None
    assert browser.find_elements("css selector", "img") == []
