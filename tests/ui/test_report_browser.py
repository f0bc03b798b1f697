"""The HTML reports in a real browser: headless Chromium loads them from file:// and the
rendered DOM is checked; the toggles are clicked with scripts on and off (over the DevTools
protocol, as ``--dump-dom`` itself needs scripts); screenshots are kept for a human to look at.

Screenshots go to the folder in ``IB_NLP_SCREENSHOTS`` (default: a pytest temporary folder).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_report import REVIEW, SCRIPT, Elements, make_explanation

from ib_nlp.ui import report
from ib_nlp.text.explanation import Explanation

CHROMIUM = next((path for path in (shutil.which("chromium"), shutil.which("chromium-browser")) if path), None)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("IB_NLP_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chromium-profile")


def browser_command(profile: Path) -> list[str]:
    """Headless Chromium with no network chatter and a private profile."""
    assert CHROMIUM is not None
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ]


def chromium(profile: Path, *arguments: str) -> str:
    """Run headless Chromium with the given arguments and return its standard output."""
    result = subprocess.run([*browser_command(profile), *arguments], capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def dump_dom(profile: Path, page: Path) -> str:
    """The DOM of ``page`` after loading (and after any script ran), serialised by the browser."""
    return chromium(profile, "--dump-dom", page.as_uri())


def screenshot(profile: Path, page: Path, target: Path, height: int = 900) -> Path:
    """A 1200-pixel-wide PNG of ``page``."""
    chromium(profile, "--hide-scrollbars", f"--window-size=1200,{height}", f"--screenshot={target}", page.as_uri())
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, "a real, non-empty screenshot"
    return target


class DevTools:
    """Headless Chromium driven over the DevTools protocol (``--remote-debugging-pipe``),
    so that scripts can be switched off while the DOM, computed styles, clicks and
    screenshots still work (``--dump-dom`` needs scripts)."""

    def __init__(self, profile: Path, scripts: bool) -> None:
        assert CHROMIUM is not None
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        # Chromium reads commands from fd 3 and writes replies to fd 4. Bash (dash takes only
        # one-digit fds) puts the pipe ends there from fds >= 10, so the two moves cannot clash.
        child_read = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)
        child_write = fcntl.fcntl(replies_write, fcntl.F_DUPFD, 10)
        self._process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{child_read} 4>&{child_write}', "bash", *browser_command(profile), "--remote-debugging-pipe", "about:blank"],
            pass_fds=(child_read, child_write),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in (commands_read, replies_write, child_read, child_write):
            os.close(fd)
        self._buffer = b""
        self._last_id = 0
        self._events: list[dict[str, Any]] = []
        try:
            target = self._send("Target.createTarget", url="about:blank")["targetId"]
            self._session = self._send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.send("Emulation.setScriptExecutionDisabled", value=not scripts)
            self.send("Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1, mobile=False)
            self.send("Page.enable")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> DevTools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the browser (killing it if it does not exit) and the pipes."""
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self._send("Browser.close", timeout=10)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._commands)
        os.close(self._replies)

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("the browser did not answer in time")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise RuntimeError("the browser closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _send(self, method: str, session: str | None = None, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self._events.append(reply)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command in the page's session."""
        return self._send(method, self._session, **params)

    def open(self, file: Path) -> None:
        """Load a file and wait for its load event."""
        self._events.clear()
        self.send("Page.navigate", url=file.as_uri())
        deadline = time.monotonic() + 60
        while not any(event.get("method") == "Page.loadEventFired" for event in self._events):
            self._events.append(self._message(deadline))
        self.send("DOM.enable")
        self.send("CSS.enable")
        self._root = self.send("DOM.getDocument")["root"]["nodeId"]

    def _node(self, selector: str) -> int:
        node = self.send("DOM.querySelector", nodeId=self._root, selector=selector)["nodeId"]
        assert node, f"no element matches {selector!r}"
        return node

    def title(self) -> str:
        """The document's title, read from the DOM (works with scripts off)."""
        html = self.send("DOM.getOuterHTML", nodeId=self._node("title"))["outerHTML"]
        return html.removeprefix("<title>").removesuffix("</title>")

    def style(self, selector: str, name: str) -> str:
        """A computed style property of the first element matching ``selector``."""
        styles = self.send("CSS.getComputedStyleForNode", nodeId=self._node(selector))["computedStyle"]
        return next(item["value"] for item in styles if item["name"] == name)

    def displays(self) -> dict[str, str]:
        """Computed display of a special token, the word view and the sub-token view."""
        return {
            "special": self.style(".wv .sp", "display"),
            "words": self.style(".text.wv", "display"),
            "tokens": self.style(".text.tv", "display"),
        }

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of an element."""
        quad = self.send("DOM.getBoxModel", nodeId=self._node(selector))["model"]["content"]
        x, y = sum(quad[0::2]) / 4, sum(quad[1::2]) / 4
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, target: Path) -> None:
        """A PNG of the viewport."""
        target.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))


def title_of(dom: str) -> str:
    """Text of the <title> element of a dumped DOM."""
    return dom.split("<title>", 1)[1].split("</title>", 1)[0]


@pytest.fixture(scope="module")
def explanation() -> Explanation:
    return make_explanation()


def test_single_report_renders_safely(explanation: Explanation, tmp_path: Path, profile: Path, screenshots: Path) -> None:
    file = report.save_html(report.render_explanation(explanation, title="Review 1"), tmp_path / "single.html")
    with_scripts = dump_dom(profile, file)
    assert title_of(with_scripts) == "Review 1", "the review's script did not run (it would set the title)"
    parsed = Elements(with_scripts)
    tags = {tag for tag, _ in parsed.tags}
    assert "script" not in tags and "img" not in tags
    assert SCRIPT in "".join(parsed.text), "the review's markup shows as text"
    assert len(parsed.with_class("w")) == len(explanation.words)
    assert len(parsed.with_class("lg")) == 2
    toggles = [attrs for tag, attrs in parsed.tags if tag == "input"]
    assert len(toggles) == 2 and not any("checked" in attrs for attrs in toggles)
    screenshot(profile, file, screenshots / "single.png")


@pytest.mark.parametrize("scripts", [True, False], ids=["scripts-on", "scripts-off"])
def test_toggles_work_without_javascript(scripts: bool, explanation: Explanation, tmp_path: Path, profile: Path, screenshots: Path) -> None:
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><title>before</title><script>document.title = 'ran'</script>", encoding="utf-8")
    file = report.save_html(report.render_explanation(explanation, title="Review 1"), tmp_path / "single.html")
    top = f'.wv .w[title^="{max(explanation.word_scores)!r} bits;"]'
    with DevTools(profile, scripts) as page:
        page.open(control)
        assert page.title() == ("ran" if scripts else "before"), "scripts are on or off as asked"
        page.open(file)
        assert page.title() == "Review 1"
        default = {"special": "none", "words": "block", "tokens": "none"}
        assert page.displays() == default, "special tokens and sub-tokens hidden by default"
        assert page.style(top, "background-color") == "rgb(255, 0, 0)"
        page.click("label[for=show-special]")
        assert page.displays() == {**default, "special": "inline-block"}
        page.click("label[for=show-tokens]")
        assert page.displays() == {"special": "inline-block", "words": "none", "tokens": "block"}
        page.click("label[for=show-special]")
        assert page.displays() == {"special": "none", "words": "none", "tokens": "block"}
        page.click("label[for=show-special]")
        assert page.displays() == {"special": "inline-block", "words": "none", "tokens": "block"}
        page.screenshot(screenshots / f"single-tokens-and-specials-{'js' if scripts else 'no-js'}.png")


def test_comparison_in_browser(tmp_path: Path, profile: Path, screenshots: Path) -> None:
    rows = [make_explanation(layer=layer) for layer in (0, 2, 4)]
    for scale, row in zip((0.4, 0.7, 1.0), rows):
        row.word_scores = [score * scale for score in row.word_scores]
    signed = make_explanation(signed=True)
    shared = report.save_html(report.render_comparison(rows), tmp_path / "comparison.html")
    parsed = Elements(dump_dom(profile, shared))
    assert len(parsed.with_class("row")) == 3
    assert len(parsed.with_class("w")) == 3 * len(rows[0].words)
    screenshot(profile, shared, screenshots / "comparison.png", height=1400)
    mixed = report.save_html(report.render_comparison([rows[2], signed], titles=["IBA (bits)", "Saliency (signed)"]), tmp_path / "mixed.html")
    assert len(Elements(dump_dom(profile, mixed)).with_class("diverging")) == 2
    screenshot(profile, mixed, screenshots / "comparison-mixed-units.png", height=1100)


def test_dataset_in_browser(tmp_path: Path, profile: Path, screenshots: Path) -> None:
    texts = [
        "I loved this film, wonderful acting and the best music.",
        "A dull and boring story with bad actors.",
        REVIEW,
        " ".join(["the movie was good but the ending was too long ."] * 12),
    ]
    items = [make_explanation(text) for text in texts]
    items[1] = make_explanation(texts[1], target=0, probabilities=[0.7, 0.3], predicted=0)
    file = report.save_html(report.render_dataset(items, title="Dataset run"), tmp_path / "dataset.html")
    dom = dump_dom(profile, file)
    assert title_of(dom) == "Dataset run"
    parsed = Elements(dom)
    summary_links = [attrs["href"] for tag, attrs in parsed.tags if tag == "a" and attrs.get("href", "").startswith("#entry-")]
    assert summary_links == [f"#entry-{index}" for index in range(len(items))]
    assert len(parsed.with_class("entry")) == len(items)
    screenshot(profile, file, screenshots / "dataset.png", height=1500)


def test_layer_sweep_in_browser(tmp_path: Path, profile: Path, screenshots: Path, explanation: Explanation) -> None:
    words = [word.text for word in explanation.words]
    depth = np.linspace(0.3, 1.0, 7)[:, None]
    scores = depth * np.asarray(explanation.word_scores)[None, :]
    scores[0] = 0.5
    layers: list[str | int] = ["embeddings", *range(6)]
    file = report.save_html(report.render_layer_sweep(words, layers, scores, title="Layer sweep of review 1"), tmp_path / "sweep.html")
    parsed = Elements(dump_dom(profile, file))
    cells = parsed.with_class("c")
    assert len(cells) == len(layers) * len(words)
    assert cells[0]["title"] == f"layer embeddings · {words[0]}: 0.5 bits"
    assert [attrs["title"] for attrs in parsed.with_class("wl")] == words
    screenshot(profile, file, screenshots / "layer-sweep.png")
