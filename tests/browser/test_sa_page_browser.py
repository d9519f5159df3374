"""The insured's self-assessment page in headless Chromium: keyboard use, saving, errors, axe-core, CSP, layout.

Screenshots of each view at desktop (1280x900) and mobile (375x812) widths are written under the
test's tmp dir and checked: the PNG is the viewport's size, it is not blank, and at mobile width the
document never scrolls sideways.
"""

from __future__ import annotations

import base64
import io
import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import MISSING, Site
from tests.support.sa_fake import session

pytestmark = [pytest.mark.skipif(MISSING is not None, reason=MISSING or ""), pytest.mark.slow]

DESKTOP, MOBILE = (1280, 900), (375, 812)
BRAND = "#1f4e79"


def png_logo() -> str:
    """A 24x12 two-colour PNG, built by hand, as a data: URI."""
    width, height = 24, 12
    rows = b"".join(b"\x00" + b"".join(bytes((200, 30, 30) if x < width // 2 else (30, 30, 200))
                                        for x in range(width)) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + (zlib.crc32(kind + data) & 0xFFFFFFFF).to_bytes(4, "big"))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", width.to_bytes(4, "big") + height.to_bytes(4, "big")
                                        + b"\x08\x02\x00\x00\x00")
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()


def open_session(site: Site, token: str, **changes: Any) -> str:
    site.port.add(token, session("shop.example", partner="Acme Insurance", color=BRAND, logo=png_logo(),
                                 **changes))
    return site.url(token)


def set_viewport(browser: Any, size: tuple[int, int]) -> None:
    width, height = size
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def active(browser: Any) -> dict[str, str]:
    """What has the focus: tag, id, class, type, value and the outline the page draws around it."""
    return dict(browser.execute_script(
        "const e = document.activeElement, s = getComputedStyle(e);"
        "return {tag: e.tagName.toLowerCase(), id: e.id, cls: e.className, type: e.type || '', value: e.value || '',"
        " outline: s.outlineStyle, href: e.getAttribute('href') || ''};"))


def press(browser: Any, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(browser)
    for key in keys:
        chain.send_keys(key)
    chain.perform()


def wait_for(browser: Any, condition: str, timeout: float = 10) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout).until(lambda d: d.execute_script(f"return document.readyState === 'complete' "
                                                                      f"&& ({condition});"))


def console_errors(browser: Any) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def run_axe(browser: Any, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page (WCAG 2.x A/AA and best practices)."""
    browser.execute_script(axe_source)
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(JSON.stringify(r.violations)))"
        ".catch(e => done(JSON.stringify([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}])));")
    return [v for v in json.loads(result) if v["impact"] in ("serious", "critical")]


def check_screenshot(browser: Any, path: Path, size: tuple[int, int]) -> None:
    """Save a screenshot and check it: the viewport's size, not blank, and no sideways scroll at mobile width."""
    from PIL import Image

    png = browser.get_screenshot_as_png()
    path.write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == size, f"{path.name}: {image.size} is not the {size} viewport"
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) >= 4, f"{path.name} is blank"
    assert max(count for count, _ in colours) < size[0] * size[1] * 0.97, f"{path.name} is one colour"
    widths = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")
    assert widths[1] == size[0]
    assert widths[0] <= widths[1], f"{path.name}: the page scrolls sideways ({widths[0]} > {widths[1]})"


def test_a_keyboard_alone_fills_in_and_submits_the_form(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.keys import Keys

    set_viewport(browser, DESKTOP)
    browser.get(open_session(site, "sa_keyboard_0000000000001"))
    press(browser, Keys.TAB)
    assert active(browser)["cls"] == "skip"
    press(browser, Keys.ENTER)
    press(browser, Keys.TAB)
    first = active(browser)
    assert first["id"] == "q-mfa-no" and first["outline"] == "solid", "the focus is visible on the first answer"
    press(browser, Keys.SPACE)  # mfa: no
    press(browser, Keys.TAB, Keys.ARROW_DOWN)  # patching: the second answer, partly
    press(browser, Keys.TAB, Keys.ARROW_DOWN, Keys.ARROW_DOWN)  # backups: yes
    press(browser, Keys.TAB)  # training (optional) is left open
    assert active(browser)["id"] == "q-training-no"
    press(browser, Keys.TAB)
    assert active(browser)["value"] == "save" and active(browser)["outline"] == "solid"
    press(browser, Keys.TAB)
    assert active(browser)["value"] == "submit"
    press(browser, Keys.SPACE)
    wait_for(browser, "document.querySelector('h1').textContent.includes('submitted')")
    assert browser.current_url.split("#")[0] == site.url("sa_keyboard_0000000000001")
    stored = site.port.sessions["sa_keyboard_0000000000001"]
    assert stored.status == "submitted" and stored.answers == {"mfa": "no", "patching": "partly", "backups": "yes"}
    assert not browser.find_elements("css selector", "form, input, button")


def test_saved_answers_are_kept_across_a_reload(browser: Any, site: Site) -> None:
    url = open_session(site, "sa_reload_00000000000001")
    set_viewport(browser, MOBILE)
    browser.get(url)
    for answer in ("q-mfa-yes", "q-backups-partly"):
        browser.find_element("css selector", f"label[for={answer}]").click()
    browser.find_element("css selector", "button[value=save]").click()
    wait_for(browser, "document.querySelector('.notice') !== null")
    assert browser.current_url == url + "?saved=1"
    assert browser.find_element("css selector", ".notice").text == "Your answers were saved."
    browser.get(url)
    checked = {e.get_attribute("id") for e in browser.find_elements("css selector", "input:checked")}
    assert checked == {"q-mfa-yes", "q-backups-partly"}
    assert site.port.sessions["sa_reload_00000000000001"].answers == {"mfa": "yes", "backups": "partly"}


def test_a_missing_required_answer_is_summarised_and_its_link_moves_the_focus(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.keys import Keys

    set_viewport(browser, DESKTOP)
    browser.get(open_session(site, "sa_errors_00000000000001"))
    browser.find_element("css selector", "label[for=q-mfa-partly]").click()
    browser.find_element("css selector", "button[value=submit]").click()
    wait_for(browser, "document.title.startsWith('Error:')")
    summary = browser.find_element("css selector", "[role=alert]")
    links = [a.get_attribute("href").rsplit("#", 1)[1] for a in summary.find_elements("css selector", "a")]
    assert links == ["q-patching-no", "q-backups-no"]
    assert active(browser)["cls"] == "summary", "the summary takes the focus (autofocus, no script)"
    press(browser, Keys.TAB)
    assert active(browser)["href"] == "#q-patching-no"
    press(browser, Keys.ENTER)
    assert active(browser)["id"] == "q-patching-no", "the link puts the focus on the question"
    fieldset = browser.find_element("css selector", "#q-patching")
    described = fieldset.get_attribute("aria-describedby").split()
    assert "q-patching-error" in described
    assert "Answer the question" in browser.find_element("css selector", "#q-patching-error").text
    assert browser.find_element("css selector", "#q-mfa-partly").is_selected(), "the answer given is kept"
    assert site.port.sessions["sa_errors_00000000000001"].answers == {}


def test_every_view_passes_axe_and_lays_out_at_desktop_and_mobile_width(
        browser: Any, site: Site, axe_source: str, tmp_path: Path) -> None:
    open_url = open_session(site, "sa_views_000000000000001")
    done_url = open_session(site, "sa_views_000000000000002",
                            answers={"mfa": "yes", "patching": "no", "backups": "partly"}, status="submitted")

    def error_view() -> None:
        browser.get(open_url)
        browser.find_element("css selector", "button[value=submit]").click()
        wait_for(browser, "document.title.startsWith('Error:')")

    views = {"open": lambda: browser.get(open_url), "error": error_view, "submitted": lambda: browser.get(done_url)}
    browser.get_log("browser")  # start with an empty console
    for name, show in views.items():
        for size in (DESKTOP, MOBILE):
            set_viewport(browser, size)
            show()
            wait_for(browser, "document.querySelector('h1') !== null")
            brand = browser.execute_script("return getComputedStyle(document.querySelector('.brand')).backgroundColor")
            assert brand == "rgb(31, 78, 121)", "the hashed style block applies (the CSP allowed it)"
            logo = browser.execute_script("const i = document.querySelector('.brand img');"
                                          "return i.complete && i.naturalWidth;")
            assert logo == 24, "the data: logo loads under img-src data:"
            check_screenshot(browser, tmp_path / f"{name}-{size[0]}x{size[1]}.png", size)
            violations = run_axe(browser, axe_source)
            assert violations == [], f"{name} at {size}: " + "; ".join(
                f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in violations)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        f"{n}-{w}x{h}.png" for n in views for w, h in (DESKTOP, MOBILE))
    # The error view is answered 422 on purpose; Chromium notes that status, and nothing else may appear.
    assert [m for m in console_errors(browser) if "status of 422" not in m] == [], "no CSP violation, no failed load"


def test_the_csp_refuses_injected_script_and_a_crafted_answer_stays_text(browser: Any, site: Site) -> None:
    set_viewport(browser, DESKTOP)
    browser.get(open_session(site, "sa_csp_000000000000000001"))
    assert browser.execute_script("return document.scripts.length") == 0
    browser.get_log("browser")
    browser.execute_script("const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
                           "document.body.appendChild(s);")
    assert browser.execute_script("return window.__ran === undefined"), "the inline script did not run"
    assert any("Content Security Policy" in message for message in console_errors(browser))

    crafted = '"><script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
    browser.execute_script("const r = document.getElementById('q-mfa-yes'); r.value = arguments[0]; r.checked = true;",
                           crafted)
    browser.find_element("css selector", "button[value=save]").click()
    wait_for(browser, "document.title.startsWith('Error:')")
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return window.__xss === undefined")
    assert browser.find_elements("css selector", "main img") == []
    assert crafted in browser.find_element("css selector", "#q-mfa-error").text, "shown as text"
    assert site.port.sessions["sa_csp_000000000000000001"].answers == {}
