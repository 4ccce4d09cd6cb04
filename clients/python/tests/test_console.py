"""The live console (issue 19) of the real broker and gateway: its JSON API over HTTP, the page in a real headless
browser (Debian's chromium through chromium-driver and Selenium; run-tests.sh installs them), and the broker's memory
with 50 event-stream clients that never read. The browser tests save a screenshot of each view in docs/console/."""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest

from conftest import POLICY, REPO, Gateway, Process, executable, wait_until
from parley import ParleyError, Status

SCREENSHOTS = REPO / "docs" / "console"
# What 50 stalled event-stream clients may add to the broker's resident memory while 2,000 events flow (each a line
# of about 0.5 KiB: the tail shows 200 bytes of a payload): each client holds at most 256 queued lines and a 32 KiB
# write buffer (about 0.16 MiB), 8 MiB for 50 plus the allocator's slack; unbounded buffers would hold
# 2,000 × 0.5 KiB × 50 ≈ 50 MiB. Measured: +7 MiB. deploy/OPERATIONS.md states the same bound.
STALLED_CLIENTS_RSS_BOUND_MIB = 24


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def console_broker(start_broker, *extra: str) -> Tuple[Any, str]:
    port = free_port()
    broker = start_broker(["--metrics-port", str(port), *extra])
    assert broker.output_contains(f"parley-broker console on http://127.0.0.1:{port}/")
    return broker, f"http://127.0.0.1:{port}"


def get(url: str) -> Tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def connected(agents, broker, agent_id, layer="domain", capabilities=(), **kwargs):
    return agents(agent_id, layer, capabilities, broker=broker.endpoint, events=broker.events, **kwargs).connect()


# -- the API --------------------------------------------------------------------------------------------------


def test_the_api_lists_agents_pools_and_rates_and_refuses_bad_paths_and_queries(start_broker, agents):
    broker, base = console_broker(start_broker)
    helper = connected(agents, broker, "py-helper", capabilities=["summarize", "translate"])
    helper.serve(lambda request: "done")
    asker = connected(agents, broker, "py-asker", layer="domain")
    assert asker.request_help("cap:summarize", {"text": "x"}, timeout=5) == "done"

    def helper_listed() -> bool:
        return any(a["id"] == "py-helper" for a in get(base + "/api/agents")[1]["agents"])
    wait_until("the agent is listed", helper_listed, timeout=5)
    agent = next(a for a in get(base + "/api/agents")[1]["agents"] if a["id"] == "py-helper")
    assert (agent["layer"], agent["capabilities"], agent["state"], agent["in_flight"]) == ("domain", ["summarize", "translate"], "alive", 0)
    assert 0 <= agent["last_seen_ms"] < 5_000
    pools = {p["capability"]: p for p in get(base + "/api/pools")[1]["pools"]}
    assert (pools["summarize"]["agents"], pools["summarize"]["alive"], pools["summarize"]["in_flight"]) == (1, 1, 0)
    wait_until("the outcome is counted", lambda: get(base + "/api/rates?seconds=60")[1]["totals"].get("OK") == 1, timeout=5)
    status, rates = get(base + "/api/rates?seconds=60")
    assert status == 200 and rates["seconds"] == 60 and "NO_ROUTE" in rates["outcomes"]

    assert get(base + "/api/nothing")[0] == 404
    assert "/api/agents" in get(base + "/api/nothing")[1]["error"]
    assert get(base + "/api/agents?limit=3")[0] == 400
    assert get(base + "/api/rates?seconds=abc")[0] == 400
    assert get(base + "/api/rates?seconds=100000")[0] == 400
    assert get(base + "/api/events?agent=not%20an%20id")[0] == 400
    with pytest.raises(urllib.error.HTTPError) as malformed:
        urllib.request.urlopen(base + "/api/agents?%zz=1", timeout=5)
    assert malformed.value.code == 400


def test_a_non_loopback_console_address_is_refused_without_metrics_public(tmp_path):
    import subprocess
    refused = subprocess.run([executable("parley-broker"), "--metrics-port", str(free_port()), "--metrics-address", "0.0.0.0"],
                             capture_output=True, text=True, timeout=10)
    assert refused.returncode == 78 and "metrics-public" in refused.stderr


# -- the page in a browser ---------------------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,2400"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(15)
    yield driver
    driver.quit()


def wait_for(driver, what: str, condition, timeout: float = 10.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    def holds(_: Any) -> Any:
        try:
            return condition()
        except IndexError:  # a table still showing its one-cell "nothing yet" row
            return False
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(holds)
    except Exception as error:
        page = driver.execute_script("return document.body.innerText")
        raise AssertionError(f"the console did not show {what} within {timeout} s; it shows:\n{page}") from error


def cells(driver, selector: str) -> List[List[str]]:
    """The texts of the cells of the rows `selector` picks, read in one go (the page redraws its tables each second)."""
    return driver.execute_script("return [...document.querySelectorAll(arguments[0])].map(r => [...r.cells].map(c => c.innerText))",
                                 selector)


def screenshot(driver, section: str, name: str) -> None:
    from selenium.webdriver.common.by import By
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    element = driver.find_element(By.ID, section)
    driver.execute_script("arguments[0].scrollIntoView()", element)
    assert element.screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_the_broker_console_shows_agents_come_and_go_outcomes_and_events_with_gaps(start_broker, processes, tmp_path, agents, browser):
    # events-hwm 1: the broker drops the console's copies of events that come faster than it takes them, so a burst
    # of events makes a hole in the sequence that the tail must show as a GAP.
    broker, base = console_broker(start_broker, "--events-hwm", "1")
    browser.get(base + "/")

    server = Process([executable("parley"), "serve", "--broker", broker.endpoint, "--events", broker.events, "--id", "swift-summarizer",
                      "--cap", "summarize"], r"agent swift-summarizer serving", tmp_path / "serve.log")
    processes.append(server)
    leaver = connected(agents, broker, "py-leaver", capabilities=["translate"])
    wait_for(browser, "the agents", lambda: {row[0] for row in cells(browser, "#agents tr[data-state=alive]")} >= {"swift-summarizer", "py-leaver"})
    asker = connected(agents, broker, "py-asker", layer="domain")
    assert asker.request("help", "cap:summarize", {"text": "x"}, timeout=10).status == Status.OK
    assert asker.request("help", "cap:nobody-offers-this", {}, timeout=5, retries=0).status == Status.NO_ROUTE
    wait_for(browser, "the OK and NO_ROUTE counters", lambda: {row[0]: row[1] for row in cells(browser, "#outcomes tr")}
             == {"OK": "1", "NO_ROUTE": "1"})
    wait_for(browser, "the pools", lambda: ["summarize", "1", "1", "0"] in cells(browser, "#pools tr"))
    screenshot(browser, "agents-view", "agents")
    screenshot(browser, "pools-view", "pools")

    server.popen.send_signal(signal.SIGKILL)  # a killed agent goes away (it may come back), with its pool
    leaver.close()  # an agent that says BYE is gone at once
    wait_for(browser, "the killed agent away and the closed one gone", lambda: (
        ["swift-summarizer", "away"] in [row[:1] + row[3:4] for row in cells(browser, "#agents tr")]
        and "py-leaver" not in [row[0] for row in cells(browser, "#agents tr")]), timeout=15)
    wait_for(browser, "the empty pool", lambda: ["summarize", "0", "1", "0"] in cells(browser, "#pools tr"))
    screenshot(browser, "rates-view", "rates")

    publisher = connected(agents, broker, "py-pub")
    assert publisher.publish("on_task_start", {"task": 1}) == 1
    wait_for(browser, "the event with its sequence number",
             lambda: ["callback.py-pub.on_task_start", "#1"] in [row[1:3] for row in cells(browser, "#events tr.event")])

    def burst() -> None:
        threads = [threading.Thread(target=lambda: [publisher.publish("on_progress", {"n": n}) for n in range(10)]) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    for _ in range(20):  # anti-hang limit: one burst nearly always loses events at a high-water mark of 1
        burst()
        gaps = cells(browser, "#events tr.gap")
        if gaps:
            break
        time.sleep(0.5)
    gap = wait_for(browser, "a GAP", lambda: cells(browser, "#events tr.gap"))[0]
    assert gap[0] == "GAP" and gap[1] == "callback.py-pub.on_progress" and re.fullmatch(r"#\d+–#\d+", gap[2]), gap
    screenshot(browser, "events-view", "events")

    from selenium.webdriver.common.by import By
    other = connected(agents, broker, "py-other")
    browser.find_element(By.ID, "agent-filter").send_keys("py-other\n")
    other.publish("on_task_start", {"only": "this"})
    wait_for(browser, "only py-other's events", lambda: [row[1] for row in cells(browser, "#events tr")] == ["callback.py-other.on_task_start"])


def test_the_gateway_console_shows_allowed_and_denied_calls_on_the_layer_graph(broker, swift, agents, processes, tmp_path, browser):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    port = free_port()
    gateway = Gateway(broker, policy, tmp_path / "audit.jsonl", tmp_path / "gateway.log", ["--metrics-port", str(port)])
    processes.append(gateway)
    swift.serve("swift-db", "--layer", "infrastructure", "--cap", "persistence")
    orders = connected(agents, broker, "py-orders", gateway=gateway.endpoint)
    assert orders.domain_to_infrastructure({"key": "k"}, "persistence", timeout=10) == {"key": "k"}
    with pytest.raises(ParleyError) as denied:
        orders.execute("presentation", "render", {"x": 1}, timeout=5, retries=0)
    assert denied.value.status == Status.UNAUTHORIZED

    browser.get(f"http://127.0.0.1:{port}/")
    wait_for(browser, "the edges' counts", lambda: (
        ["domain", "infrastructure", "domain-uses-infrastructure", "1", "0"] in cells(browser, "#edges tr")
        and ["domain", "presentation", "default-deny", "0", "1"] in cells(browser, "#edges tr")))
    from selenium.webdriver.common.by import By
    denied_edge = browser.find_element(By.CSS_SELECTOR, 'g.edge[data-from="domain"][data-to="presentation"]')
    assert denied_edge.text == "✓0 ✗1"
    assert denied_edge.find_element(By.TAG_NAME, "path").get_attribute("stroke-dasharray")
    layers = {g.get_attribute("data-layer") for g in browser.find_elements(By.CSS_SELECTOR, "#nodes-layer g")}
    assert layers == {"presentation", "application", "domain", "infrastructure"}
    screenshot(browser, "graph-view", "graph")


# -- memory ---------------------------------------------------------------------------------------------------


def resident_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def test_fifty_event_stream_clients_that_never_read_do_not_grow_the_brokers_memory_past_the_bound(start_broker, agents):
    broker, base = console_broker(start_broker, "--retention-count", "100")  # what the broker retains stays small
    port = int(base.rsplit(":", 1)[1])
    publisher = connected(agents, broker, "py-pub")
    payload = {"text": "x" * 1000}
    for n in range(200):  # warm-up: the allocator's arenas and the retention of the topic
        publisher.publish("on_progress", payload)
    before = resident_mib(broker.popen.pid)

    stalled = []
    for _ in range(50):
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills at once: the server must hold the rest
        client.connect(("127.0.0.1", port))
        client.sendall(b"GET /api/events HTTP/1.1\r\nHost: console\r\n\r\n")
        stalled.append(client)
    try:
        def publish_many() -> None:
            for _ in range(500):
                publisher.publish("on_progress", payload)
        threads = [threading.Thread(target=publish_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(1.5)  # the stream writes of the last events land in the clients' queues
        after = resident_mib(broker.popen.pid)
        growth = after - before
        print(f"broker RSS {before:.1f} MiB -> {after:.1f} MiB with 50 stalled clients (+{growth:.1f} MiB)")
        assert growth < STALLED_CLIENTS_RSS_BOUND_MIB, f"RSS grew by {growth:.1f} MiB (bound {STALLED_CLIENTS_RSS_BOUND_MIB} MiB)"
        # A stalled client that reads at last gets what its bounded queue kept, after a notice of what it lost.
        stalled[0].settimeout(2)
        received = b""
        while b'"type":"dropped"' not in received:
            chunk = stalled[0].recv(65536)
            assert chunk, "the stream ended"
            received += chunk
        print(f"the first stalled client, reading at last, got {len(received)} bytes before its 'dropped' notice")
        # The console still answers, and a reading client still gets new events.
        assert get(base + "/api/agents")[0] == 200
        with urllib.request.urlopen(base + "/api/events?agent=py-pub", timeout=5) as stream:
            publisher.publish("on_done", {"last": True})
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                line = stream.readline().decode()
                if '"event":"on_done"' in line:
                    break
            else:
                raise AssertionError("a reading client did not get the last event")
    finally:
        for client in stalled:
            client.close()


def test_past_64_event_streams_a_new_one_is_refused_503_and_one_closing_makes_room(start_broker):
    _, base = console_broker(start_broker)
    port = int(base.rsplit(":", 1)[1])

    def open_stream() -> Tuple[socket.socket, bytes]:
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(b"GET /api/events HTTP/1.1\r\nHost: console\r\n\r\n")
        return client, client.recv(4096).split(b"\r\n", 1)[0]

    streams = [open_stream() for _ in range(64)]
    try:
        assert all(status == b"HTTP/1.1 200 OK" for _, status in streams), {status for _, status in streams}
        refused, status = open_stream()
        refused.close()
        assert status.startswith(b"HTTP/1.1 503"), status
        assert get(base + "/api/agents")[0] == 200, "the console's other paths still answer"
        streams.pop()[0].close()

        def reopened() -> bool:
            streams.append(open_stream())
            return streams[-1][1] == b"HTTP/1.1 200 OK"
        wait_until("a closed stream's place is taken", reopened, timeout=10)
    finally:
        for client, _ in streams:
            client.close()
