#!/usr/bin/env python3
"""The web console in a real headless browser (Debian's chromium, chromium-driver and
python3-selenium), against a running gateway.

    console_browser.py --task-port N --admin-port N --rules DIR --password P [--screenshots DIR]

The gateway must have been started with the rules in DIR (this script edits one of them) and a
console password P. Prints one JSON line per check, {"name", "ok", "message", "seconds"}, and
with --screenshots saves a picture of each view into DIR (console-VIEW.png). Exits 0 when every
check passed.
"""
import argparse
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ARGS = None
DRIVER = None
RESULTS = []


# --- the gateway over HTTP ------------------------------------------------------------------

def call(method, params=""):
    """Sends a methodcall to the task port; returns the reply text."""
    body = f"<methodcall><name>{method}</name><params>{params}</params></methodcall>".encode()
    request = urllib.request.Request(f"http://127.0.0.1:{ARGS.task_port}/api/v2/task", data=body,
                                     headers={"Content-Type": "application/xml"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def group(group_id, category, req_time, priority, tasks, extra=""):
    parts = "".join(f"<task><task_id>{t}</task_id><bin_id>{b}</bin_id></task>" for t, b in tasks)
    return call("create_taskgroup", f"<taskgroup_id>{group_id}</taskgroup_id><category>{category}</category>"
                f"<req_time>{req_time}</req_time><priority>{priority}</priority>{extra}<tasks>{parts}</tasks>")


def admin_json(path):
    request = urllib.request.Request(f"http://127.0.0.1:{ARGS.admin_port}{path}",
                                     headers={"Authorization": f"Bearer {ARGS.password}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


# --- the browser ------------------------------------------------------------------------------

def start_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # As root, on a machine without a network beyond loopback: no sandbox, no background fetches.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,900", f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def console_url(fragment):
    return f"http://127.0.0.1:{ARGS.admin_port}/console/#{fragment}"


def open_view(fragment, reload=False):
    """Shows a view by its link: a fresh page load the first time (or with reload), then as
    following a link within the page."""
    on_console = DRIVER.current_url.startswith(f"http://127.0.0.1:{ARGS.admin_port}/console/")
    if reload or not on_console:
        DRIVER.get(console_url(fragment))
        wait_for(lambda: DRIVER.execute_script("return document.readyState") == "complete", 10, "the page to load")
    else:
        DRIVER.execute_script("location.hash = arguments[0]", fragment)


def wait_for(condition, seconds, what):
    deadline = time.time() + seconds
    last_error = None
    while time.time() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # the page may be between renders
            last_error = error
        time.sleep(0.05)
    raise AssertionError(f"waited {seconds} s for {what}" + (f" ({last_error})" if last_error else ""))


def text(selector):
    return DRIVER.find_element(By.CSS_SELECTOR, selector).text


def console_errors():
    """The browser log's errors since the last look (network failures and script errors)."""
    return [entry["message"] for entry in DRIVER.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(view):
    if ARGS.screenshots:
        time.sleep(0.3)
        DRIVER.save_screenshot(os.path.join(ARGS.screenshots, f"console-{view}.png"))


def check(name):
    """Runs the decorated function as one check and records its result."""
    def run(function):
        started = time.time()
        try:
            function()
            result = {"name": name, "ok": True, "message": ""}
        except Exception as error:
            result = {"name": name, "ok": False, "message": f"{type(error).__name__}: {error}"}
        result["seconds"] = round(time.time() - started, 2)
        RESULTS.append(result)
        print(json.dumps(result), flush=True)
        return function
    return run


# --- the checks, in order -------------------------------------------------------------------------

def checks():
    @check("the page asks for the token once, keeps it for the tab and never puts it in a URL")
    def _():
        open_view("ports")
        wait_for(lambda: DRIVER.find_element(By.ID, "login").is_displayed(), 5, "the sign-in form")
        assert not DRIVER.find_element(By.TAG_NAME, "main").is_displayed(), "the views show before sign-in"
        field = DRIVER.find_element(By.CSS_SELECTOR, "#login-form input[name=token]")
        field.send_keys("not-the-token")
        field.submit()
        wait_for(lambda: "not accepted" in text("#login-error"), 5, "the refusal of a wrong token")
        field = DRIVER.find_element(By.CSS_SELECTOR, "#login-form input[name=token]")
        field.clear()
        field.send_keys(ARGS.password)
        field.submit()
        wait_for(lambda: "live" in text("#live") and DRIVER.find_element(By.ID, "ports-table").is_displayed(), 5,
                 "the ports view after sign-in")
        DRIVER.refresh()  # a reload of the tab keeps the token
        wait_for(lambda: "live" in text("#live") and DRIVER.find_element(By.ID, "ports-table").is_displayed(), 5,
                 "the ports view after a reload")
        assert not DRIVER.find_element(By.ID, "login").is_displayed()
        urls = DRIVER.execute_script("return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]")
        assert not [u for u in urls if ARGS.password in u], urls
        assert DRIVER.get_cookies() == [], DRIVER.get_cookies()
        console_errors()  # the refused requests before sign-in are logged as errors: forget them

    @check("each view loads without console errors")
    def _():
        console_errors()  # forget the start's
        for view, ready in (("ports", "#ports-table"), ("queue", "#queues"), ("calls", "#calls-table tbody"),
                            ("rules", "#files-table tbody tr"), ("health", "#health-tiles .tile"),
                            ("audit", "#audit-table")):
            open_view(view)
            wait_for(lambda: DRIVER.find_element(By.CSS_SELECTOR, ready), 5, f"the {view} view")
            wait_for(lambda: "live" in text("#live"), 5, f"the stream on the {view} view")
            time.sleep(0.3)
            errors = console_errors()
            assert not errors, f"{view}: {errors}"
            current = DRIVER.find_element(By.CSS_SELECTOR, "nav a.current").get_attribute("data-view")
            assert current == view, f"#{view} showed {current}"

    @check("a cancel_task sent over HTTP appears in the calls view within 2 s with its fault's name")
    def _():
        open_view("calls")
        wait_for(lambda: "live" in text("#live"), 5, "the stream")
        time.sleep(0.3)  # the stream carries calls from its start on
        sent = time.time()
        assert "<code>1017</code>" in call("cancel_task", "<task_id>4242001</task_id>")
        row = wait_for(lambda: [r.text for r in DRIVER.find_elements(By.CSS_SELECTOR, "#calls-table tbody tr")
                                if "4242001" in r.text], 2.0, "the call's row")[0]
        elapsed = time.time() - sent
        assert "TASK_DOES_NOT_EXIST" in row and "1017" in row, row
        assert elapsed < 2.0, f"{elapsed:.2f} s"

    @check("the calls view filters by method, outcome, client and task id, from a link")
    def _():
        open_view("calls?method=cancel_task&outcome=1017&task_id=4242002")
        wait_for(lambda: "live" in text("#live"), 5, "the stream")
        time.sleep(0.3)
        call("cancel_task", "<task_id>4242003</task_id>")
        call("cancel_task", "<task_id>4242002</task_id>")
        wait_for(lambda: "4242002" in text("#calls-table tbody"), 2.0, "the matching call")
        time.sleep(0.3)
        assert "4242003" not in text("#calls-table tbody")

    @check("pausing the calls stream stops new rows and says how many calls came meanwhile")
    def _():
        open_view("calls?method=cancel_task")
        wait_for(lambda: "live" in text("#live"), 5, "the stream")
        DRIVER.find_element(By.ID, "pause").click()
        wait_for(lambda: "paused" in text("#live"), 5, "the paused stream")
        for n in range(20):
            call("cancel_task", f"<task_id>{4243000 + n}</task_id>")
        wait_for(lambda: re.search(r"Paused at .*: ([1-9]\d*) calls since", text("#calls-note")), 3, "the count")
        assert "42430" not in text("#calls-table tbody")
        DRIVER.find_element(By.ID, "pause").click()
        wait_for(lambda: "4243019" in text("#calls-table tbody"), 3, "the calls after resuming")

    @check("the calls view stays responsive while calls pour in, paused or not")
    def _():
        open_view("calls")
        wait_for(lambda: "live" in text("#live"), 5, "the stream")
        # The page's work while the flood runs: its long tasks, and the rows it draws (at most what
        # the stream carries, 500 calls a second, however many calls the gateway answers).
        DRIVER.execute_script("window.longTasks = []; new PerformanceObserver((list) => list.getEntries()"
                              ".forEach((e) => window.longTasks.push(e.duration))).observe({entryTypes: ['longtask']});"
                              "window.rowsDrawn = 0; new MutationObserver((records) => records.forEach((r) => "
                              "window.rowsDrawn += r.addedNodes.length)).observe(document.querySelector("
                              "'#calls-table tbody'), {childList: true});")
        for paused in (False, True):
            if paused:
                DRIVER.find_element(By.ID, "pause").click()
                wait_for(lambda: "paused" in text("#live"), 5, "the paused stream")
                rows_before = DRIVER.execute_script("return document.querySelector('#calls-table tbody').rows.length")
            DRIVER.execute_script("window.longTasks = []; window.rowsDrawn = 0;")
            load = Flood(2.5)
            started_flood = time.time()
            slowest, rows = 0, 0
            while load.running():
                started = time.time()
                rows = DRIVER.execute_script("return document.querySelector('#calls-table tbody').rows.length")
                slowest = max(slowest, time.time() - started)
                time.sleep(0.1)
            time.sleep(0.5)  # the last events of the flood
            longest = max(DRIVER.execute_script("return window.longTasks") or [0])
            drawn = DRIVER.execute_script("return window.rowsDrawn")
            seconds = time.time() - started_flood
            assert load.calls > 1000, f"only {load.calls} calls were sent"
            assert drawn <= 520 * seconds, f"{drawn} rows drawn in {seconds:.1f} s while {load.calls} calls came"
            # Wall-clock bounds, loose: the flood and the gateway take most of a small machine's CPU,
            # and a page that drew every call would be held for many seconds.
            assert longest < 2000, f"a task of {longest:.0f} ms held the page"
            assert slowest < 5.0, f"the page took {slowest:.2f} s to answer while {load.calls} calls came"
            assert rows <= 300, f"{rows} rows"
            if paused:
                assert rows == rows_before, f"{rows - rows_before} rows while paused"
        DRIVER.find_element(By.ID, "pause").click()
        wait_for(lambda: "paused" not in text("#live"), 5, "the resumed stream")

    @check("opening a port and a bin shows in the ports view")
    def _():
        open_view("ports")
        assert "<params/>" in group(8801, 3, "2024-05-01T08:00:00Z", 1, [(880101, 8811)])
        assert "<params/>" in call("openport", "<port_id>88</port_id><port_mode>PICK</port_mode>")
        assert "<task_id>880101</task_id>" in call("openbin", "<port_id>88</port_id>")

        def row_text():  # the table is redrawn as calls change it: read the row afresh each time
            rows = DRIVER.find_elements(By.CSS_SELECTOR, "#ports-table tbody tr[data-port='88']")
            found = rows and rows[0].text
            return found and "open" in found and "8811" in found and "880101" in found and found
        found = wait_for(row_text, 4, "port 88 with its bin")
        assert "8801" in found, found
        wait_for(lambda: DRIVER.find_element(By.CSS_SELECTOR, "#ports-table tr[data-port='88'] button").click() or True,
                 3, "a click on port 88")
        wait_for(lambda: "openbin" in text("#ports-table tr.details"), 3, "the port's last calls")
        wait_for(lambda: re.search(r"\d+ open, \d+ closed", text("#ports-page")), 3, "how many ports there are")
        screenshot("ports")
        open_view("ports?port=88")  # one port found by its id
        wait_for(lambda: "port 88 only" in text("#ports-page")
                 and len(DRIVER.find_elements(By.CSS_SELECTOR, "#ports-table tbody tr[data-port]")) == 1, 4, "port 88 alone")

    @check("saving a broken rule shows the failed reload with file:line")
    def _():
        open_view("rules")
        wait_for(lambda: text("#reloads-table tbody"), 5, "the reloads")
        path = os.path.join(ARGS.rules, "cancel_task.lua")
        with open(path) as f:
            good = f.read()
        with open(path, "w") as f:
            f.write("return function(call)\n  return {\nend\n")
        try:
            wait_for(lambda: "failed" in text("#reloads-table tbody tr:first-child")
                     and "cancel_task.lua:3:" in text("#reloads-table tbody tr:first-child"), 5, "the failed reload")
            screenshot("rules")
            open_view("ports")  # the header says so on every view
            wait_for(lambda: "last reload failed" in text("#rules-pill"), 3, "the header's failed reload")
            open_view("rules")
        finally:
            with open(path, "w") as f:
                f.write(good)
        wait_for(lambda: "loaded" in text("#reloads-table tbody tr:first-child"), 5, "the rules loading again")
        wait_for(lambda: "failed" not in text("#rules-pill"), 3, "the header's failed reload gone")

    @check("the queue view's order matches what openbin then picks")
    def _():
        times = ["2024-05-01T09:00:00Z", "2024-05-01T08:00:00Z", "2024-05-01T08:00:00Z", "2024-05-01T07:30:00Z"]
        for n, (req_time, priority) in enumerate(zip(times, [1, 2, 1, 5])):
            assert "<params/>" in group(9100 + n, 9, req_time, priority, [(910000 + n, 9200 + n)])
        assert "<params/>" in group(9110, 9, "2024-05-01T06:00:00Z", 1, [(910010, 9210)], "<suspended>true</suspended>")
        open_view("queue?category=9")

        def listed():
            items = DRIVER.find_elements(By.CSS_SELECTOR, "#queues .card li")
            return [int(re.search(r"task (\d+)", li.text).group(1)) for li in items] or None
        order = wait_for(listed, 5, "the queue of category 9")
        assert "9110" in text("#suspended-table tbody"), "the suspended group is listed apart"
        screenshot("queue")
        assert "<params/>" in call("openport", "<port_id>91</port_id><port_mode>PICK</port_mode>"
                                   "<select><category>9</category></select>")
        picked = []
        for _ in order:
            reply = call("openbin", "<port_id>91</port_id>")
            task, bin_id = re.search(r"<task_id>(\d+)</task_id>", reply), re.search(r"<bin_id>(\d+)</bin_id>", reply)
            picked.append(int(task.group(1)))
            call("closebin", f"<port_id>91</port_id><bin_id>{bin_id.group(1)}</bin_id><task_id>{task.group(1)}</task_id>"
                 "<taskcomplete>true</taskcomplete>")
        assert order == picked, f"listed {order}, picked {picked}"
        wait_for(lambda: "nothing to pick" in text("#queues"), 4, "the emptied queue, live")
        open_view("queue")  # the overview shows the category whose open port starves
        wait_for(lambda: any("category 9" in card.text and "port 91 waits on it" in card.text
                             for card in DRIVER.find_elements(By.CSS_SELECTOR, "#queues .card.starving")),
                 4, "category 9 marked: port 91 has nothing to pick")

    @check("searching a task shows where its group stands")
    def _():
        assert "<params/>" in group(9300, 12, "2024-05-01T08:00:00Z", 1, [(930000, 9301)])
        assert "<params/>" in group(9301, 12, "2024-05-01T09:00:00Z", 1, [(930100, 9302)])
        open_view("queue?task=930100")
        wait_for(lambda: "1 groups ahead of it in category 12" in text("#search-result"), 5, "the task's standing")

    @check("the audit view shows who created and cancelled a task")
    def _():
        assert "<params/>" in group(9400, 1, "2024-05-01T08:00:00Z", 1, [(940000, 9401), (940001, 9402)])
        assert "<params/>" in call("cancel_task", "<task_id>940000</task_id>")
        open_view("audit?task=940000")
        wait_for(lambda: "cancel_task" in text("#audit-table tbody") and "create_taskgroup" in text("#audit-table tbody"),
                 5, "the task's history")
        wait_for(lambda: "among all" in text("#audit-note"), 2, "how many records were searched")
        screenshot("audit")
        # a mistyped id is refused, saying why; no other task's records are shown under it
        console_errors()
        open_view("audit?task=T940000")
        wait_for(lambda: "task must be a task id" in text("#view-audit"), 5, "the refusal")
        assert not text("#audit-table tbody").strip(), text("#audit-table tbody")
        refused = console_errors()  # the console checks the id itself: no failed request in the log
        assert not refused, refused

    @check("the health view charts calls and faults by code")
    def _():
        if ARGS.screenshots:  # a few seconds of traffic, so that the pictures show some
            busy(12)
        open_view("health")
        wait_for(lambda: DRIVER.execute_script(
            "return window.Chart && Chart.getChart(document.getElementById('rate-chart'))"
            " && Chart.getChart(document.getElementById('rate-chart')).data.datasets.length >= 2"), 5, "the chart")
        labels = DRIVER.execute_script(
            "return Chart.getChart(document.getElementById('rate-chart')).data.datasets.map(d => d.label)")
        assert "1017 TASK_DOES_NOT_EXIST/s" in labels, labels
        axis = DRIVER.execute_script("return Chart.getChart(document.getElementById('rate-chart')).data.datasets"
                                     ".find(d => d.label.startsWith('1017')).yAxisID")
        assert axis == "faults", f"the faults are drawn on the calls' axis ({axis})"
        wait_for(lambda: "WAL" in text("#health-tiles"), 3, "the tiles")
        screenshot("health")

    @check("no view logged a console error")
    def _():
        if ARGS.screenshots:
            open_view("calls")
            wait_for(lambda: "live" in text("#live"), 5, "the stream")
            busy(3)
            screenshot("calls")
        errors = console_errors()
        assert not errors, errors


class Flood:
    """cancel_task calls pipelined on one connection, as fast as the gateway answers, for a
    while, on a thread of their own."""

    def __init__(self, seconds):
        self.calls = 0
        self.deadline = time.time() + seconds
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        body = "<methodcall><name>cancel_task</name><params><task_id>1</task_id></params></methodcall>"
        request = (f"POST /api/v2/task HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
        with socket.create_connection(("127.0.0.1", ARGS.task_port)) as conn:
            reader = conn.makefile("rb")
            while time.time() < self.deadline:
                conn.sendall(request * 100)
                for _ in range(100):
                    length = 0
                    while (line := reader.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    reader.read(length)
                self.calls += 100

    def running(self):
        if self.thread.is_alive():
            return True
        self.thread.join()
        return False


def busy(seconds):
    """A mix of calls for a while: some succeed, some fault."""
    deadline = time.time() + seconds
    n = 0
    while time.time() < deadline:
        n += 1
        group(960000 + n, 1 + n % 3, "2024-05-01T08:00:00Z", 1, [(9600000 + n, 96000 + n)])
        call("cancel_task", f"<task_id>{9600000 + n if n % 3 else 9700000 + n}</task_id>")
        call("getportstatus", "<port_id>88</port_id>")
        if n % 5 == 0:
            call("cancel_task", "<task_id>x</task_id>")
        time.sleep(0.02)


def main():
    global ARGS, DRIVER
    parser = argparse.ArgumentParser()
    parser.add_argument("--task-port", type=int, required=True)
    parser.add_argument("--admin-port", type=int, required=True)
    parser.add_argument("--rules", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--screenshots")
    ARGS = parser.parse_args()
    try:
        DRIVER = start_browser()
    except Exception as error:
        print(json.dumps({"name": "the browser starts", "ok": False, "message": str(error), "seconds": 0}))
        return 1
    try:
        checks()
    finally:
        DRIVER.quit()
    return 0 if all(r["ok"] for r in RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
