"""The self-assessment page renderer: structure, accessibility hooks, escaping, branding and its CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest

from chalicelib.selfassessment.models import SaStatus
from chalicelib.selfassessment.page import (
    FieldError,
    render_form,
    render_not_found,
    render_rate_limited,
    render_submitted,
    render_view,
)
from chalicelib.selfassessment.page_style import DEFAULT_COLOR, brand_color, contrast, stylesheet, text_on
from tests.support.sa_fake import session

HOSTILE = "<script>alert(1)</script>\"'&amp;<img src=x onerror=alert(2)>"
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
VOID = {"meta", "link", "input", "img", "br", "hr"}


class Tree(HTMLParser):
    """Every start tag with its attributes, the text of each element by tag, and nesting errors."""

    def __init__(self, html: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.decl = ""
        self.feed(html.decode())
        self.close()

    def handle_decl(self, decl: str) -> None:
        self.decl = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"unbalanced </{tag}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.tags if "id" in a]


def test_the_form_has_the_structure_assistive_technology_relies_on() -> None:
    page = render_form(session(), csrf_token="tok")
    tree = Tree(page.html)
    assert tree.decl.lower() == "doctype html" and not tree.problems and not tree.stack
    assert tree.all("html") == [{"lang": "en"}]
    assert tree.all("meta", name="viewport") and len(tree.all("h1")) == 1
    assert tree.all("a", **{"class": "skip", "href": "#main"}) and tree.all("main", id="main")
    assert len(tree.ids()) == len(set(tree.ids())), "ids are unique"
    fieldsets, legends = tree.all("fieldset"), tree.all("legend")
    assert len(fieldsets) == len(legends) == 4
    radios = tree.all("input", type="radio")
    labels = {a["for"] for a in tree.all("label")}
    assert len(radios) == 12 and {r["id"] for r in radios} == labels
    assert {r["name"] for r in radios} == {"q-mfa", "q-patching", "q-backups", "q-training"}
    assert tree.all("input", type="hidden", name="csrf", value="tok")
    assert [a["value"] for a in tree.all("button")] == ["save", "submit"]
    text = "".join(tree.text)
    assert re.findall(r"\((required|optional)\)</span></legend>", page.html.decode()) == [
        "required", "required", "required", "optional"], "required is said in text, in each legend"
    assert "Questions marked (required) must be answered" in text
    assert not tree.all("script") and all("style" not in a for _, a in tree.tags), "no script, no inline style"


def test_the_page_shows_the_domain_and_branding_and_nothing_else_of_the_scan() -> None:
    sa = session("shop.example", partner="Acme Insurance", sa_score=42)
    html = render_form(sa, csrf_token="tok").html.decode()
    assert "shop.example" in html and "Acme Insurance" in html
    assert "42" not in re.sub(r"<style>.*?</style>", "", html, flags=re.S), "the self-assessment score stays hidden"


@pytest.mark.parametrize("where", ["partner", "domain"])
def test_partner_controlled_strings_are_escaped_everywhere(where: str) -> None:
    sa = session(**{where: HOSTILE})  # type: ignore[arg-type]
    for page in (render_form(sa, csrf_token="tok"), render_submitted(sa)):
        tree = Tree(page.html)
        assert not tree.all("script") and len(tree.all("img")) == 0, "nothing the partner wrote became markup"
        assert HOSTILE in "".join(tree.text), "it reads as the text it was"
        assert "<script>" not in page.html.decode()


def test_error_messages_and_posted_values_are_escaped() -> None:
    page = render_form(session(), csrf_token='"><script>x</script>', answers={"mfa": HOSTILE},
                       errors=[FieldError("mfa", HOSTILE), FieldError("", HOSTILE)])
    tree = Tree(page.html)
    assert not tree.all("script") and not tree.all("img")
    assert tree.all("input", type="hidden", name="csrf", value='"><script>x</script>')
    assert not tree.all("input", checked=""), "a value that is no option checks nothing"


def test_errors_are_summarised_linked_to_their_field_and_described_on_it() -> None:
    sa = session()
    page = render_form(sa, csrf_token="tok", answers={"mfa": "yes"},
                       errors=[FieldError("patching", "Answer the patching question"),
                               FieldError("backups", "Answer the backups question")])
    tree = Tree(page.html)
    assert "".join(tree.text).strip().startswith("Error:"), "the title says there is an error"
    summary = tree.all("div", **{"class": "summary"})
    assert summary and summary[0]["role"] == "alert" and "autofocus" in summary[0]
    links = [a["href"] for a in tree.all("a") if a["href"] != "#main"]
    assert links == ["#q-patching-no", "#q-backups-no"] and {h[1:] for h in links} <= set(tree.ids())
    invalid = {a["id"]: a for a in tree.all("fieldset") if "invalid" in a["class"]}
    assert set(invalid) == {"q-patching", "q-backups"}
    assert invalid["q-patching"]["aria-describedby"] == "q-patching-error"
    assert "q-patching-error" in tree.ids()
    mfa = next(a for a in tree.all("fieldset") if a["id"] == "q-mfa")
    assert mfa["aria-describedby"] == "q-mfa-hint", "the help text describes its question"
    assert tree.all("input", id="q-mfa-yes", checked="")


def test_saved_answers_are_checked_and_a_notice_is_a_status() -> None:
    sa = session(answers={"mfa": "partly", "backups": "yes"})
    tree = Tree(render_view(sa, csrf_token="tok", notice="Your answers were saved.").html)
    assert {a["id"] for a in tree.all("input", checked="")} == {"q-mfa-partly", "q-backups-yes"}
    assert tree.all("p", **{"class": "notice", "role": "status"})
    assert not tree.all("div", role="alert")


def test_the_submitted_view_is_read_only_and_lists_the_chosen_answers() -> None:
    sa = session(answers={"mfa": "yes", "patching": "no", "backups": "partly"}, status=SaStatus.SUBMITTED)
    for page in (render_view(sa, csrf_token="tok"), render_submitted(sa)):
        tree = Tree(page.html)
        assert not tree.all("form") and not tree.all("input") and not tree.all("button")
        text = "".join(tree.text)
        assert "Yes, on every system" in text and "Partly, on some systems" in text and "Not answered" in text
        assert len(tree.all("h1")) == 1 and len(tree.all("dt")) == 4


def test_the_style_block_is_the_one_the_policy_allows() -> None:
    page = render_form(session(color="#ffcc00"), csrf_token="tok")
    css = re.search(rb"<style>(.*?)</style>", page.html, re.S)
    assert css is not None
    digest = base64.b64encode(hashlib.sha256(css.group(1)).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in page.csp
    for directive in ("default-src 'none'", "img-src data:", "form-action 'self'", "frame-ancestors 'none'",
                      "base-uri 'none'"):
        assert directive in page.csp
    assert "script-src" not in page.csp and "unsafe" not in page.csp


@pytest.mark.parametrize("value", ["red", "#12345", "#1f4e79;}body{display:none", "url(x)", "#ggg", ""])
def test_a_colour_that_is_not_hex_falls_back_to_the_default(value: str) -> None:
    assert brand_color(value) == DEFAULT_COLOR
    assert value not in stylesheet(value) or value == ""


@pytest.mark.parametrize("color", ["#ffffff", "#000000", "#ffcc00", "#777777", "#1f4e79", "#e60000", "#0f0"])
def test_text_on_the_partner_colour_keeps_aa_contrast(color: str) -> None:
    brand = brand_color(color)
    assert contrast(text_on(brand), brand) >= 4.5
    assert f"background:{brand};color:{text_on(brand)}" in stylesheet(color)


@pytest.mark.parametrize("logo", [
    "javascript:alert(1)", "data:image/svg+xml;base64,PHN2Zz4=", "data:text/html;base64,PGI+",
    'data:image/png;base64,AAAA" onerror="alert(1)', "https://evil.example/logo.png",
])
def test_only_a_raster_data_uri_becomes_the_logo(logo: str) -> None:
    assert not Tree(render_form(session(logo=logo), csrf_token="t").html).all("img")


def test_a_raster_data_uri_logo_is_shown_with_the_partner_name_as_alt_text() -> None:
    imgs = Tree(render_form(session(logo=PNG, partner="Acme"), csrf_token="t").html).all("img")
    assert imgs == [{"src": PNG, "alt": "Acme logo"}]


def test_the_not_found_and_rate_limit_pages_say_nothing_of_any_assessment() -> None:
    page = render_not_found()
    tree = Tree(page.html)
    assert len(tree.all("h1")) == 1 and not tree.all("form") and not tree.all("img")
    assert "example" not in page.html.decode()
    assert "30 seconds" in render_rate_limited(30).html.decode()
    assert "style-src 'sha256-" in page.csp
