"""The admin panel in a real browser (Playwright driving Debian's Chromium, headless) against the running simulated
site: skypost.launch with clover_sim, drone nodes, locker nodes on their firmware and the fleet manager; the bridge
in its own roslaunch; the web app (server + worker). Nothing is faked.

The tests run in order on one stack and one admin page (module scope): log in, drones on the map and moving, one
order from creation to its cell on the board, the cell occupied in the locker grid, an operator cancelling a queued
delivery, a customer refused, a bridge restart the page survives without a reload. Every request the pages make is
intercepted: none may leave 127.0.0.1. Screenshots: artifacts/screenshots/admin_*.png.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from admin_stack import PASSWORD, AdminStack
from browser import Guard, chromium
from harness import ARTIFACTS, Processes, wait_for

# the first test also starts the whole site; a loaded machine can take minutes
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
playwright_api = pytest.importorskip("playwright.sync_api")

SHOTS = ARTIFACTS / "screenshots"
STARTUP = 180.0  # s: the whole site on a loaded 2-core machine
DELIVERY = 240.0  # s: one delivery at sim speed 5 (about 15 s unloaded)
STEP = 60.0  # s: anything the page should show once the data is there
POLL = 0.25  # s between looks into the page (each one is work for its main thread)


@pytest.fixture(scope="module")
def stack(ros_processes: Processes, tmp_path_factory) -> Iterator[AdminStack]:
    site = AdminStack(ros_processes, tmp_path_factory.mktemp("admin_stack"), speed=5.0)
    site.start_site()
    site.start_bridge()
    site.start_web()
    yield site


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with chromium() as chromium_browser:
        yield chromium_browser


class Session:
    """One browser context (its own sessionStorage) with one page on the panel."""

    def __init__(self, browser, stack: AdminStack) -> None:
        self.guard = Guard()
        self.context = browser.new_context(viewport={"width": 1440, "height": 900})
        self.guard.attach(self.context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.set_default_timeout(STEP * 1000)
        self.stack = stack

    def open(self) -> None:
        self.page.goto(f"{self.stack.web_url}/admin/")

    def login(self, username: str) -> None:
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("#login-submit")

    def go(self, hash_: str) -> None:
        self.page.evaluate("hash => { window.location.hash = hash; }", hash_)

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"admin_{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def check_clean(self) -> None:
        assert self.guard.external == [], f"requests left 127.0.0.1: {self.guard.external}"
        assert self.errors == [], f"uncaught errors in the page: {self.errors}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def admin(browser, stack: AdminStack) -> Iterator[Session]:
    session = Session(browser, stack)
    try:
        yield session
    finally:
        session.close()


def drone_positions(page) -> dict[str, tuple[float, float, str]]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#map-objects [data-drone]')]
        .map(li => [li.dataset.drone, [Number(li.dataset.x), Number(li.dataset.y), li.dataset.state]]))""")


def card_state(page, delivery_id: str) -> str | None:
    return page.evaluate("id => { const c = document.querySelector(`.card[data-delivery-id=\"${id}\"]`);"
                         " return c ? c.closest('[data-column]').dataset.column : null; }", delivery_id)


def test_01_admin_logs_in_and_sees_the_site_live(admin: Session, stack: AdminStack):
    admin.open()
    admin.page.wait_for_selector("#login-form")
    admin.shot("login")
    admin.login("admin")
    admin.page.wait_for_selector("#link-status[data-state='up']", timeout=STARTUP * 1000)
    wait_for(lambda: len(drone_positions(admin.page)) == 3, STARTUP, "3 drones on the map", interval=POLL)
    admin.page.wait_for_selector("#map-objects [data-locker='locker_1']", state="attached")
    assert admin.page.inner_text("#user") == "admin (admin)"
    # the page survives every later test without a reload: this marker would vanish with one
    admin.page.evaluate("() => { window.__skypostNoReload = true; }")
    admin.shot("map_idle")
    admin.go("#/drones")
    admin.page.wait_for_selector("#drones-table tr[data-drone='drone_1'] td.battery")
    admin.shot("drones")
    admin.go("#/drones/drone_1")  # the live camera: JPEG frames of image_raw/compressed, throttled by the bridge
    wait_for(lambda: int(admin.page.get_attribute("#camera", "data-frames") or 0) >= 2, STEP, "camera frames",
             interval=POLL)
    assert "jpeg compressed" in admin.page.inner_text("#camera-info")
    wait_for(lambda: admin.page.evaluate("document.querySelector('#camera').naturalWidth") == 320, STEP,
             "a decoded 320 px frame", interval=POLL)
    admin.shot("drone_detail")
    admin.go("#/map")
    admin.check_clean()


def test_02_order_followed_from_creation_to_its_cell_on_the_board(admin: Session, stack: AdminStack):
    customer = stack.login("customer")
    start = drone_positions(admin.page)
    order = stack.order(customer, "locker_1")
    delivery_id = order["delivery"]["id"]
    stack.delivery_id = delivery_id  # for the locker test
    admin.go("#/map")

    moved: dict[str, float] = {}

    def a_drone_moved() -> bool:
        now = drone_positions(admin.page)
        for drone, (x, y, state) in now.items():
            x0, y0, _ = start[drone]
            if ((x - x0) ** 2 + (y - y0) ** 2) ** 0.5 > 3.0 and state not in ("IDLE", "OFFLINE"):
                moved[drone] = ((x - x0) ** 2 + (y - y0) ** 2) ** 0.5
                return True
        return False

    wait_for(a_drone_moved, DELIVERY, "a drone flying on the map", interval=POLL)
    admin.shot("map_flying")

    admin.go("#/deliveries")
    admin.page.wait_for_selector(f".card[data-delivery-id='{delivery_id}']")
    seen: list[str] = []

    def delivered() -> bool:
        column = card_state(admin.page, delivery_id)
        if column and (not seen or seen[-1] != column):
            seen.append(column)
        return column in ("AWAITING_PICKUP", "COMPLETED", "FAILED", "CANCELLED")

    wait_for(delivered, DELIVERY, f"delivery {delivery_id} to reach its cell (columns seen: {seen})", interval=POLL)
    assert seen[-1] == "AWAITING_PICKUP", f"the delivery ended {seen[-1]}; columns seen {seen}"
    admin.shot("board_delivered")

    admin.page.click(f".card[data-delivery-id='{delivery_id}']")
    admin.page.wait_for_selector("#delivery-history tbody tr[data-state='AWAITING_PICKUP']")
    states = admin.page.eval_on_selector_all("#delivery-history tbody tr", "rows => rows.map(r => r.dataset.state)")
    for expected in ("QUEUED", "ASSIGNED", "IN_FLIGHT", "AT_LOCKER", "DROPPING", "AWAITING_PICKUP"):
        assert expected in states, f"history {states} lacks {expected}"
    assert states.index("QUEUED") < states.index("IN_FLIGHT") < states.index("AWAITING_PICKUP")
    facts = admin.page.inner_text("#delivery-facts")
    assert "locker_1" in facts and "drone_" in facts
    assert admin.page.inner_text("#delivery-state") == "AWAITING_PICKUP"
    admin.shot("delivery_detail")
    admin.check_clean()


def test_03_the_locker_grid_shows_the_cell_occupied(admin: Session, stack: AdminStack):
    delivery_id = stack.delivery_id
    admin.go(f"#/deliveries/{delivery_id}")
    admin.page.wait_for_selector("#delivery-facts")
    cell = int(admin.page.evaluate("""() => [...document.querySelectorAll('#delivery-facts dt')]
        .find(dt => dt.textContent === 'Cell').nextElementSibling.textContent.split(' ')[0]"""))
    assert cell > 0
    admin.go("#/lockers")
    selector = f"[data-locker='locker_1'] [data-cell='{cell}']"
    admin.page.wait_for_selector(f"{selector}[data-status='occupied']")
    assert admin.page.get_attribute("[data-locker='locker_1']", "data-mode") in ("ONLINE", "BUSY")
    statuses = admin.page.eval_on_selector_all("[data-locker='locker_1'] [data-cell]",
                                               "cells => cells.map(c => c.dataset.status)")
    assert statuses.count("occupied") >= 1 and "free" in statuses
    admin.shot("lockers_occupied")
    admin.go("#/charts")
    wait_for(lambda: "delivered" in admin.page.inner_text("#chart-summary"), STEP, "the charts to count a delivery",
             interval=POLL)
    admin.shot("charts")
    admin.check_clean()


def test_04_operator_cancels_a_queued_delivery(browser, stack: AdminStack):
    operator = Session(browser, stack)
    try:
        operator.open()
        operator.login("operator")
        operator.page.wait_for_selector("#link-status[data-state='up']")
        # a paused site keeps new deliveries queued
        operator.go("#/alerts")
        operator.page.click("#pause-site")
        operator.page.wait_for_selector("#confirm-dialog[open]")
        operator.page.fill("#confirm-reason", "admin panel test: hold dispatch")
        operator.shot("pause_confirmation")
        operator.page.click("#confirm-yes")
        operator.page.wait_for_selector("#site-state[data-paused='true']")
        operator.page.wait_for_selector("#alert-strip [data-kind='paused']")

        order = stack.order(stack.login("customer"), "locker_2")
        delivery_id = order["delivery"]["id"]
        operator.go("#/deliveries")
        operator.page.wait_for_selector(f"[data-column='QUEUED'] .card[data-delivery-id='{delivery_id}']")
        operator.shot("board_queued")
        operator.page.click(f".card[data-delivery-id='{delivery_id}']")
        operator.page.click("#cancel-delivery")
        operator.page.wait_for_selector("#confirm-dialog[open]")
        operator.shot("cancel_confirmation")
        operator.page.click("#confirm-yes")
        wait_for(lambda: operator.page.inner_text("#delivery-state") == "CANCELLED", STEP,
                 f"delivery {delivery_id} CANCELLED", interval=POLL)
        operator.page.wait_for_selector("#delivery-history tbody tr[data-state='CANCELLED']")
        operator.shot("delivery_cancelled")
        token = stack.login("customer")  # polled once a second: the API is rate limited per address
        wait_for(lambda: stack.http("GET", f"/api/v1/orders/{order['id']}", token=token)[1]["data"]["status"]
                 == "CANCELLED", STEP, "the web app to see the order cancelled", interval=1.0)

        operator.go("#/alerts")
        operator.page.click("#resume-site")
        operator.page.click("#confirm-yes")
        operator.page.wait_for_selector("#site-state[data-paused='false']")
        operator.check_clean()
    finally:
        operator.close()


def test_05_a_customer_is_refused(browser, stack: AdminStack):
    customer = Session(browser, stack)
    try:
        customer.open()
        customer.login("customer")
        customer.page.wait_for_selector("#login-error:has-text('Access refused')")
        text = customer.page.inner_text("#login-error")
        assert "customer" in text and "refused a bridge token" in text, text
        assert customer.page.query_selector("#view") is None and customer.page.query_selector("nav") is None
        assert customer.page.evaluate("() => sessionStorage.getItem('skypost.admin.session')") is None
        customer.shot("customer_refused")
        # the server refuses what the page hides
        token = stack.login("customer")
        assert stack.http("POST", "/api/v1/bridge/token", token=token)[0] == 403
        assert stack.http("GET", "/admin/api/site", token=token)[0] == 403
        assert stack.http("POST", f"/api/v1/admin/deliveries/{stack.delivery_id}/cancel", {"reason": "x"},
                          token=token)[0] == 403
        customer.check_clean()
    finally:
        customer.close()


def test_06_bridge_restart_the_page_recovers_without_reload(admin: Session, stack: AdminStack):
    page = admin.page
    admin.go("#/map")
    page.wait_for_selector("#link-status[data-state='up']")
    connections = int(page.get_attribute("#link-status", "data-connections"))
    stack.stop_bridge()
    page.wait_for_selector("#link-status[data-state='down']")
    page.wait_for_selector("#link-banner:not([hidden])")
    assert "Bridge link down" in page.inner_text("#link-banner")
    admin.shot("bridge_down")
    frozen = float(page.get_attribute("#link-status", "data-summary-stamp"))

    stack.start_bridge()
    page.wait_for_selector("#link-status[data-state='up']", timeout=STARTUP * 1000)
    assert int(page.get_attribute("#link-status", "data-connections")) > connections
    # resubscribed: /fleet/summary flows again ...
    wait_for(lambda: float(page.get_attribute("#link-status", "data-summary-stamp") or 0) > frozen, STEP,
             "a new /fleet/summary after the reconnect", interval=POLL)
    assert page.is_hidden("#link-banner")
    # ... and so does /fleet/delivery_status: a new order shows up on the board by itself
    order = stack.order(stack.login("customer"), "locker_2")
    admin.go("#/deliveries")
    page.wait_for_selector(f".card[data-delivery-id='{order['delivery']['id']}']")
    assert page.evaluate("() => window.__skypostNoReload === true"), "the page was reloaded"
    admin.shot("recovered")
    admin.check_clean()


def test_07_no_request_left_127_0_0_1(admin: Session):
    requests = admin.guard.requests
    assert any("/admin/vendor/roslib.min.js" in u for u in requests)
    assert any(u.startswith("ws://127.0.0.1:") for u in requests), "the bridge WebSocket was seen"
    assert sum(u.startswith("ws://") for u in requests) >= 2, "a reconnect opened a second WebSocket"
    assert admin.guard.external == []
    hosts = {urlparse(u).hostname for u in requests if urlparse(u).scheme not in ("data", "blob")}
    assert hosts == {"127.0.0.1"}, hosts
    assert os.path.isdir(SHOTS) and len(list(SHOTS.glob("admin_*.png"))) >= 10
