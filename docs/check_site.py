"""Open the built documentation in headless Chromium and check it as a reader would.

Serves ``docs/_build/html`` on 127.0.0.1 (a free port, in a thread), opens the
landing page, a user-guide page, an API page, the gallery, an example, a
notebook and the search page with Selenium,
and fails when a page logs a console error, when an image has not loaded
(``naturalWidth`` 0), or when searching "GaussianGate" does not list its API
page. Screenshots go to ``docs/_build/screenshots/``.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``pip install
"mixexp[docs]"`` (Selenium). Run it after the build::

    python docs/check_site.py [--site docs/_build/html]
"""

import argparse
import functools
import http.server
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

DOCS = Path(__file__).parent

# This machine has no network and no GPU, and the browser must not wait for
# either; a fresh profile keeps runs independent.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

PAGES = {
    "landing": "index.html",
    "guide": "user_guide/components.html",
    "api": "generated/mixexp.gates.GaussianGate.html",
    "gallery": "auto_examples/index.html",
    "example": "auto_examples/plot_quickstart.html",
    "notebook": "_generated/notebooks/01_quickstart.html",
    "search": "search.html?q=GaussianGate",
}
WIDTH, HEIGHT, MAX_HEIGHT = 1280, 1000, 6000


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base's signature
        pass


def serve(site):
    """Serve ``site`` on 127.0.0.1 in a daemon thread; returns the server."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def browser(profile):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={WIDTH},{HEIGHT}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(options=options, service=Service(driver_path))


def _loaded(driver):
    return driver.execute_script("return document.readyState") == "complete"


def broken_images(driver):
    """The sources of the page's images that did not load."""
    return driver.execute_script(
        "return Array.from(document.images)"
        ".filter(img => !(img.complete && img.naturalWidth > 0))"
        ".map(img => img.currentSrc || img.src);"
    )


def console_errors(driver):
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
    ]


def screenshot(driver, path):
    """Save the whole page (up to MAX_HEIGHT pixels) as a PNG."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, max(HEIGHT, min(height, MAX_HEIGHT)))
    # The taller window shows lazily loaded images; let them load.
    time.sleep(0.5)
    driver.save_screenshot(str(path))
    driver.set_window_size(WIDTH, HEIGHT)


def search_results(driver, timeout=30):
    """The links of the search page's results, once the search has run."""

    def finished(driver):
        links = driver.find_elements(By.CSS_SELECTOR, "#search-results ul.search a")
        status = driver.find_elements(By.CSS_SELECTOR, "#search-results p")
        done = any(
            "found" in element.text.lower() or "did not match" in element.text.lower()
            for element in status
        )
        return links if done else False

    links = WebDriverWait(driver, timeout).until(finished)
    return [link.get_attribute("href") for link in links]


def check(site, screenshots):
    screenshots.mkdir(parents=True, exist_ok=True)
    server = serve(site)
    base = f"http://127.0.0.1:{server.server_port}/"
    failures = []
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            for name, page in PAGES.items():
                driver.get(base + page)
                WebDriverWait(driver, 30).until(_loaded)
                results = search_results(driver) if name == "search" else None
                screenshot(driver, screenshots / f"{name}.png")
                problems = [f"console error: {m}" for m in console_errors(driver)]
                problems += [f"image not loaded: {s}" for s in broken_images(driver)]
                n_images = driver.execute_script("return document.images.length")
                if results is not None:
                    api = "generated/mixexp.gates.GaussianGate.html"
                    if not any(api in (href or "") for href in results):
                        problems.append(
                            f"search for GaussianGate did not list {api}: {results}"
                        )
                    note = f", {len(results)} results"
                else:
                    note = ""
                status = "ok" if not problems else "FAILED"
                print(f"{name:8} {page}: {status} ({n_images} images{note})")
                failures += [f"{page}: {problem}" for problem in problems]
        finally:
            driver.quit()
            server.shutdown()
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=DOCS / "_build" / "html")
    parser.add_argument(
        "--screenshots", type=Path, default=DOCS / "_build" / "screenshots"
    )
    args = parser.parse_args(argv)
    if not (args.site / "index.html").exists():
        parser.error(f"{args.site} has no index.html: build the documentation first")
    failures = check(args.site, args.screenshots)
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"screenshots in {args.screenshots}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
