"""What the crawler reads from HTML: links, forms, scripts; destructive forms; robots.txt."""

from __future__ import annotations

from chalicelib.scanners.webapp.crawler import form_endpoint
from chalicelib.scanners.webapp.html import parse_html, robots_disallowed

PAGE = """<html><head><script src="/js/app.js"></script><link rel="stylesheet" href="http://cdn.test/s.css">
</head><body>
<a href="/a?x=1#frag">a</a> <a href="https://other.test/b">b</a> <a href="javascript:void(0)">j</a>
<form action="/search" method="get"><input name="q"><input type="submit" value="Search"></form>
<form action="/account/remove" method="post"><input name="id" value="7"><button>Go</button></form>
<form method="post"><input name="email" type="email"><textarea name="message"></textarea>
<select name="topic"><option value="sales">Sales</option></select><button type="submit">Send</button></form>
<form action="/session" method="post"><input type="hidden" name="t" value="1"><button>Log out</button></form>
</body></html>"""


def test_links_are_absolute_without_fragments_and_skip_script_urls() -> None:
    parsed = parse_html("https://site.test/dir/page", PAGE)
    assert parsed.links == ["https://site.test/a?x=1", "https://other.test/b"]
    assert parsed.scripts == ["https://site.test/js/app.js"]
    assert ("link", "http://cdn.test/s.css") in parsed.resources


def test_forms_keep_method_action_and_fields() -> None:
    forms = parse_html("https://site.test/contact", PAGE).forms
    assert [(f.method, f.action) for f in forms] == [
        ("GET", "https://site.test/search"), ("POST", "https://site.test/account/remove"),
        ("POST", "https://site.test/contact"), ("POST", "https://site.test/session")]
    contact = forms[2]
    assert [(f.name, f.kind, f.value) for f in contact.fields] == [
        ("email", "email", ""), ("message", "textarea", ""), ("topic", "select", "sales")]


def test_destructive_forms_are_recognised_by_action_or_button_but_not_by_substrings() -> None:
    forms = parse_html("https://site.test/", PAGE).forms
    assert [f.destructive_reason() for f in forms] == [None, "remove", None, "log out"]
    display = parse_html("https://site.test/", '<form action="/display"><input name="payload"></form>').forms[0]
    assert display.destructive_reason() is None  # "pay" inside "display"/"payload" is not a word of its own


def test_form_endpoints_fill_fields_with_harmless_values() -> None:
    forms = parse_html("https://site.test/contact", PAGE).forms
    endpoint = form_endpoint(forms[2])
    assert endpoint.method == "POST" and endpoint.source == "form"
    assert dict(endpoint.params) == {"email": "scanner@example.com", "message": "perimeter", "topic": "sales"}
    search = form_endpoint(forms[0])
    assert (search.method, search.url, dict(search.params)) == ("GET", "https://site.test/search", {"q": "perimeter"})


def test_robots_disallow_paths_are_read_for_every_agent_once() -> None:
    text = "User-agent: *\nDisallow: /admin/ # staff\nDisallow:\nUser-agent: bot\nDisallow: /admin/\nDisallow: /tmp"
    assert robots_disallowed(text) == ["/admin/", "/tmp"]
