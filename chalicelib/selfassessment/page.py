"""The insured's public self-assessment page, rendered on the server: data in, HTML bytes out.

No JavaScript at all; one style block (named in the Content-Security-Policy by its hash, see
`page_style`); every partner- or user-controlled string escaped. The page shows the domain and the
partner's branding (name, logo as a data: URI, colour) and nothing else of the scan. Each question is
a fieldset with a legend and label-tied radios; errors are summarised at the top (role="alert",
links to the fields) and tied to their field with aria-describedby.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from chalicelib.selfassessment.models import PageBranding, Question, SaSession, SaStatus
from chalicelib.selfassessment.page_style import content_security_policy, stylesheet

# A raster logo only (an SVG is a document of its own); the CSP allows data: images and nothing else.
_LOGO = re.compile(r"^data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$")
MAX_LOGO_CHARS = 400_000


@dataclass(frozen=True)
class FieldError:
    """One problem, tied to a question when `field` names one."""

    field: str
    message: str


@dataclass(frozen=True)
class Page:
    """A rendered page and the Content-Security-Policy that allows exactly its style block."""

    html: bytes
    csp: str


def _e(text: str) -> str:
    return escape(text, quote=True)


def logo_src(branding: PageBranding) -> str | None:
    """The logo's data: URI when it is a base64 PNG, JPEG, GIF or WebP of sane size, else None."""
    uri = branding.logo_data_uri
    if uri is None or len(uri) > MAX_LOGO_CHARS or not _LOGO.match(uri):
        return None
    return uri


def _document(title: str, body: str, branding: PageBranding | None) -> Page:
    css = stylesheet(branding.primary_color if branding else None)
    header = ""
    if branding is not None:
        src = logo_src(branding)
        logo = f'<img src="{_e(src)}" alt="{_e(branding.partner_name)} logo">' if src else ""
        header = f'<header class="brand">{logo}<p class="partner">{_e(branding.partner_name)}</p></header>\n'
    html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n<meta name="robots" content="noindex, nofollow">\n'
        f'<title>{_e(title)}</title>\n<link rel="icon" href="data:,">\n<style>{css}</style>\n</head>\n<body>\n'
        '<a class="skip" href="#main">Skip to main content</a>\n'
        f'{header}<main id="main" tabindex="-1">\n{body}</main>\n</body>\n</html>\n'
    )
    return Page(html.encode("utf-8"), content_security_policy(css))


def _date(moment: datetime | None) -> str:
    return moment.strftime("%d %B %Y at %H:%M UTC") if moment else ""


def _heading(session: SaSession, prefix: str) -> str:
    return f'<h1>{_e(prefix)} <span class="domain">{_e(session.domain)}</span></h1>\n'


def render_form(session: SaSession, *, csrf_token: str, answers: Mapping[str, str] | None = None,
                errors: Sequence[FieldError] = (), notice: str | None = None) -> Page:
    """The open questionnaire: saved (or just posted) `answers` checked, `errors` summarised and tied to fields."""
    chosen = dict(session.answers if answers is None else answers)
    questions = {q.id: q for q in session.questionnaire.questions()}
    by_field: dict[str, list[str]] = {}
    for error in errors:
        by_field.setdefault(error.field, []).append(error.message)
    parts = [_heading(session, "Security self-assessment for")]
    if errors:
        parts.append(_summary(errors, questions))
    if notice:
        parts.append(f'<p class="notice" role="status">{_e(notice)}</p>\n')
    qn = session.questionnaire
    parts.append(f"<p>{_e(session.branding.partner_name)} asks you to answer these questions about "
                 f'<span class="domain">{_e(session.domain)}</span>.</p>\n')
    if qn.introduction:
        parts.append(f"<p>{_e(qn.introduction)}</p>\n")
    parts.append("<p>Questions marked (required) must be answered before you submit. You can save your answers "
                 f"and come back to this page until {_e(_date(session.expires_at))}. Once submitted, answers "
                 "cannot be changed.</p>\n")
    if session.saved_at:
        parts.append(f"<p>Last saved on {_e(_date(session.saved_at))}.</p>\n")
    parts.append('<form method="post">\n'
                 f'<input type="hidden" name="csrf" value="{_e(csrf_token)}">\n')
    for section in qn.sections:
        parts.append(f'<section aria-labelledby="s-{_e(section.id)}">\n'
                     f'<h2 id="s-{_e(section.id)}">{_e(section.title)}</h2>\n')
        if section.description:
            parts.append(f"<p>{_e(section.description)}</p>\n")
        parts.extend(_question(q, chosen.get(q.id), by_field.get(q.id, [])) for q in section.questions)
        parts.append("</section>\n")
    parts.append('<div class="actions">\n'
                 '<button type="submit" name="action" value="save" class="secondary">Save and finish later</button>\n'
                 '<button type="submit" name="action" value="submit">Submit answers</button>\n</div>\n</form>\n')
    title = f"Security self-assessment for {session.domain} - {session.branding.partner_name}"
    return _document(("Error: " if errors else "") + title, "".join(parts), session.branding)


def _summary(errors: Sequence[FieldError], questions: Mapping[str, Question]) -> str:
    items = []
    for error in errors:
        question = questions.get(error.field)
        if question is not None and question.options:
            target = f"q-{question.id}-{question.options[0].value}"
            items.append(f'<li><a href="#{_e(target)}">{_e(error.message)}</a></li>')
        else:
            items.append(f"<li>{_e(error.message)}</li>")
    return ('<div class="summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1" autofocus>\n'
            '<h2 id="error-summary-title">There is a problem</h2>\n'
            f'<ul>{"".join(items)}</ul>\n</div>\n')


def _question(question: Question, chosen: str | None, messages: Sequence[str]) -> str:
    qid = f"q-{question.id}"
    described = []
    hint = error = ""
    if question.help:
        described.append(f"{qid}-hint")
        hint = f'<p class="hint" id="{qid}-hint">{_e(question.help)}</p>\n'
    if messages:
        described.append(f"{qid}-error")
        text = " ".join(_e(m) for m in messages)
        error = f'<p class="field-error" id="{qid}-error"><span class="visually-hidden">Error:</span> {text}</p>\n'
    aria = f' aria-describedby="{" ".join(described)}"' if described else ""
    required = ' <span class="req">(required)</span>' if question.required else ' <span class="req">(optional)</span>'
    options = []
    for option in question.options:
        oid = f"{qid}-{option.value}"
        checked = " checked" if option.value == chosen else ""
        options.append(f'<div class="option"><input type="radio" id="{oid}" name="{qid}" value="{_e(option.value)}"'
                       f'{checked}><label for="{oid}">{_e(option.label)}</label></div>\n')
    css = "question invalid" if messages else "question"
    return (f'<fieldset id="{qid}" class="{css}"{aria}>\n<legend>{_e(question.text)}{required}</legend>\n'
            f'{hint}{error}{"".join(options)}</fieldset>\n')


def render_submitted(session: SaSession, *, notice: str | None = None) -> Page:
    """The read-only view of submitted answers (the thank-you page)."""
    parts = [_heading(session, "Self-assessment submitted for")]
    if notice:
        parts.append(f'<p class="notice" role="status">{_e(notice)}</p>\n')
    when = f" on {_e(_date(session.submitted_at))}" if session.submitted_at else ""
    parts.append(f"<p>Thank you. Your answers were submitted{when} and sent to "
                 f"{_e(session.branding.partner_name)}. They can no longer be changed.</p>\n")
    for section in session.questionnaire.sections:
        parts.append(f"<h2>{_e(section.title)}</h2>\n<dl>\n")
        for question in section.questions:
            value = session.answers.get(question.id)
            label = next((o.label for o in question.options if o.value == value), "Not answered")
            parts.append(f"<dt>{_e(question.text)}</dt>\n<dd>{_e(label)}</dd>\n")
        parts.append("</dl>\n")
    title = f"Self-assessment submitted for {session.domain} - {session.branding.partner_name}"
    return _document(title, "".join(parts), session.branding)


def render_view(session: SaSession, *, csrf_token: str, notice: str | None = None) -> Page:
    """The page a GET shows: the form while open, the read-only answers once submitted."""
    if session.status is SaStatus.SUBMITTED:
        return render_submitted(session)
    return render_form(session, csrf_token=csrf_token, notice=notice)


def render_message(title: str, *paragraphs: str, link: tuple[str, str] | None = None) -> Page:
    """A plain page with a heading, a few paragraphs and an optional (href, text) link; no branding."""
    body = f"<h1>{_e(title)}</h1>\n" + "".join(f"<p>{_e(p)}</p>\n" for p in paragraphs)
    if link is not None:
        body += f'<p><a href="{_e(link[0])}">{_e(link[1])}</a></p>\n'
    return _document(title, body, None)


def render_not_found() -> Page:
    """The page for an unknown, expired or malformed link: it says nothing more."""
    return render_message("This link is not valid",
                          "The self-assessment link you followed is not valid or has expired.",
                          "If you still need to answer it, ask whoever sent you the link for a new one.")


def render_rate_limited(retry_after: int) -> Page:
    """The page for a client over its rate limit."""
    return render_message("Too many requests",
                          f"Please wait {retry_after} seconds and then reload this page.")
