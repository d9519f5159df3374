"""What the crawler reads from an HTML page: links, forms (with their fields and buttons), scripts and
the sub-resources a browser would load (for mixed content)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser

LINK_ATTRIBUTES = {"a": "href", "area": "href", "frame": "src", "iframe": "src"}
RESOURCE_ATTRIBUTES = {"script": "src", "img": "src", "iframe": "src", "link": "href", "audio": "src",
                       "video": "src", "source": "src", "embed": "src", "object": "data"}
# Words that make a form look like it changes or destroys something for real: never submitted.
DESTRUCTIVE = re.compile(
    r"(?<![a-z])(delete|del|remove|drop|destroy|erase|wipe|purge|truncate|log.?out|sign.?out|"
    r"unsubscribe|deactivate|disable|cancel|close.?account|pay|payment|purchase|buy|order|"
    r"checkout|transfer|withdraw|refund|send.?money|reset|shutdown|reboot|revoke|ban)(?![a-z])", re.IGNORECASE)


@dataclass(frozen=True)
class FormField:
    """One named control of a form: name, type and default value."""

    name: str
    kind: str
    value: str


@dataclass(frozen=True)
class Form:
    """A form as the page declares it, with its action resolved against the page URL."""

    page: str
    action: str
    method: str
    fields: tuple[FormField, ...]
    labels: tuple[str, ...]  # id, name, class, button texts and values: what `destructive` reads

    def destructive_reason(self) -> str | None:
        """The word that makes this form look destructive (in its action, names or buttons), or None."""
        path = urllib.parse.urlsplit(self.action).path
        for text in (path, *self.labels, *(f.name for f in self.fields)):
            match = DESTRUCTIVE.search(text.replace("_", " ") if text else "")
            if match:
                return match.group(1).lower()
        return None


@dataclass
class ParsedPage:
    """Links, forms, scripts and sub-resources of one page (absolute URLs)."""

    links: list[str] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    resources: list[tuple[str, str]] = field(default_factory=list)  # (tag, url)


class _Parser(HTMLParser):
    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = url
        self.page = ParsedPage()
        self._form: dict[str, object] | None = None
        self._fields: list[FormField] = []
        self._labels: list[str] = []
        self._button: list[str] | None = None
        self._textarea: str | None = None

    def _abs(self, value: str) -> str | None:
        value = value.strip()
        if not value or value.startswith(("javascript:", "mailto:", "tel:", "data:", "#")):
            return None
        return urllib.parse.urldefrag(urllib.parse.urljoin(self.base, value))[0]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and a.get("href"):
            self.base = urllib.parse.urljoin(self.base, a["href"])
        if tag in LINK_ATTRIBUTES and (url := self._abs(a.get(LINK_ATTRIBUTES[tag], ""))):
            self.page.links.append(url)
        if tag in RESOURCE_ATTRIBUTES and (url := self._abs(a.get(RESOURCE_ATTRIBUTES[tag], ""))):
            if tag != "link" or "stylesheet" in a.get("rel", "").lower() or "icon" in a.get("rel", "").lower():
                self.page.resources.append((tag, url))
            if tag == "script":
                self.page.scripts.append(url)
        if tag == "form":
            self._form = {"action": self._abs(a.get("action", "")) or self.base,
                          "method": (a.get("method") or "get").upper()}
            self._fields, self._labels = [], [a.get("id", ""), a.get("name", ""), a.get("class", "")]
        elif self._form is not None:
            self._form_control(tag, a)

    def _form_control(self, tag: str, a: dict[str, str]) -> None:
        name = a.get("name", "")
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset"):
                self._labels += [a.get("value", ""), name]
            if name and kind not in ("button", "reset", "image", "file"):
                self._fields.append(FormField(name, kind, a.get("value", "")))
        elif tag == "button":
            self._button = [a.get("value", ""), name]
            if name:
                self._fields.append(FormField(name, "submit", a.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea = name
        elif tag == "select" and name:
            self._fields.append(FormField(name, "select", ""))
        elif tag == "option" and self._fields and self._fields[-1].kind == "select" and not self._fields[-1].value:
            self._fields[-1] = FormField(self._fields[-1].name, "select", a.get("value", ""))

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None:
            self._labels.append(" ".join(t for t in self._button if t))
            self._button = None
        elif tag == "textarea" and self._textarea is not None:
            self._fields.append(FormField(self._textarea, "textarea", ""))
            self._textarea = None
        elif tag == "form" and self._form is not None:
            self.page.forms.append(Form(self.base, str(self._form["action"]), str(self._form["method"]),
                                        tuple(self._fields), tuple(t for t in self._labels if t)))
            self._form = None


def parse_html(url: str, text: str) -> ParsedPage:
    """Everything the crawler and the passive checks need from the HTML `text` served at `url`."""
    parser = _Parser(url)
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # html.parser is lenient; a pathological page keeps what was read
        pass
    if parser._form is not None:  # an unclosed form still counts
        parser.handle_endtag("form")
    return parser.page


def robots_disallowed(text: str) -> list[str]:
    """Every Disallow path of a robots.txt (any user agent), in order, without duplicates."""
    paths: dict[str, None] = {}
    for line in text.splitlines():
        key, _, value = line.partition("#")[0].partition(":")
        if key.strip().lower() == "disallow" and value.strip():
            paths[value.strip()] = None
    return list(paths)[:100]
