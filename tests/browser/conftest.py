"""One real Axiom (``axiom up``: listener, worker, beat and the API with the console) and one headless
Debian Chromium driven by Selenium, shared by every browser test of a session to keep them fast.

Screenshots go to ``$AXIOM_BROWSER_ARTIFACTS`` (default: a temporary folder, printed at the end).
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from axiom.admin.accounts import create_user
from axiom.admin.apply_config import apply_config, parse_config
from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from axiom.domain.auth import Role, UserCreate
from tests.integration.stack import AxiomStack, running_stack
from tests.support.dcmtk import free_port
from tests.support.services import require

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ROOT_PASSWORD = "root-password-1"
OPERATOR_PASSWORD = "operator-password-1"
WAIT_SECONDS = 20


@dataclass
class Console:
    stack: AxiomStack
    driver: webdriver.Chrome
    pacs_port: int
    archive: Path
    artifacts: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.stack.api_port}"

    def get(self, path: str) -> None:
        self.driver.get(self.url + path)

    def wait(self, condition: Any, timeout: float = WAIT_SECONDS) -> Any:
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(condition)

    def find(self, css: str) -> Any:
        return self.wait(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    def visible(self, css: str) -> Any:
        return self.wait(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def text_in(self, css: str, text: str, timeout: float = WAIT_SECONDS) -> None:
        self.wait(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text), timeout)

    def click(self, css: str) -> None:
        self.wait(ec.element_to_be_clickable((By.CSS_SELECTOR, css))).click()

    def shot(self, name: str) -> Path:
        """A screenshot of the whole page (not only the window), through the DevTools protocol."""
        path = self.artifacts / f"{name}.png"
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000), "scale": 1}
        image = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        path.write_bytes(base64.b64decode(image["data"]))
        return path

    def sign_in(self, username: str, password: str) -> None:
        self.driver.delete_all_cookies()
        self.get("/login")
        self.find("#username").send_keys(username)
        self.find("#password").send_keys(password)
        self.click("form[action='/login'] button[type=submit]")
        self.find("#whoami")


def routing_config(archive: Path, pacs_port: int) -> dict[str, Any]:
    return {
        "destinations": [
            {"name": "archive", "type": "filesystem", "root": str(archive)},
            {"name": "pacs", "type": "cstore", "host": "127.0.0.1", "port": pacs_port, "ae_title": "TESTSCP"},
        ],
        "rulesets": [
            {
                "name": "main",
                "rules": [
                    {
                        "name": "everything",
                        "actions": [{"set": {"tag": "InstitutionName", "value": "AXIOM-ROUTED"}}],
                        "destinations": ["archive", "pacs"],
                    }
                ],
            }
        ],
    }


def _browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.add_argument("--disable-gpu")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    require("chromium", os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing (apt-get install chromium)")
    require("chromedriver", os.access(CHROMEDRIVER, os.X_OK), "apt-get install chromium-driver")
    base = tmp_path_factory.mktemp("console")
    artifacts = Path(os.environ.get("AXIOM_BROWSER_ARTIFACTS") or base / "screenshots")
    artifacts.mkdir(parents=True, exist_ok=True)
    # Failed deliveries wait for a person (the bulk-retry test), not for the retry sweep.
    env = {"AXIOM_RETRY_BASE_SECONDS": "3600", "AXIOM_RETRY_MAX_SECONDS": "3600"}
    with running_stack("embedded", base / "axiom", env) as stack:
        pacs_port = free_port()
        archive = base / "archive"
        # The browser starts while `axiom up` does; configuration and the first user are written
        # through the services in this process (no CLI start-up to wait for).
        with ThreadPoolExecutor(1) as pool:
            browser = pool.submit(_browser)
            _prepare(stack, routing_config(archive, pacs_port))
            stack.start("up")
            driver = browser.result()
        try:
            yield Console(stack, driver, pacs_port, archive, artifacts)
        finally:
            driver.quit()
            print(f"\nbrowser screenshots: {artifacts}")


def _prepare(stack: AxiomStack, config: dict[str, Any]) -> None:
    settings = Settings(data_dir=stack.data_dir)
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    engine = create_db_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            apply_config(session, parse_config(config), actor="tests")
            create_user(
                session,
                UserCreate(username="root", password=ROOT_PASSWORD, role=Role.SUPERUSER),
                actor="tests",
            )
            session.commit()
    finally:
        engine.dispose()


def api_token(console: Console, username: str, password: str) -> dict[str, str]:
    answer = requests.post(
        f"{console.url}/api/v1/auth/login", json={"username": username, "password": password}, timeout=10
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A screenshot of the page a failed test left, beside the others."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    console = getattr(item, "funcargs", {}).get("console")
    if report.when == "call" and report.failed and isinstance(console, Console):
        console.shot(f"FAILED-{item.name}")
