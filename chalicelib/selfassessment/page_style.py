"""The self-assessment page's one style block, coloured with the partner's colour, and the policy allowing it.

The Content-Security-Policy names the block by its SHA-256, so the page carries no other style and
runs no script at all; the partner's colour is checked (`#rgb` or `#rrggbb`) before it reaches CSS,
and the text on it is black or white, whichever contrasts more (at least 4.58:1 on any colour).
"""

from __future__ import annotations

import base64
import hashlib
import re

DEFAULT_COLOR = "#1f4e79"
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")

# `{brand}` and `{on_brand}` are the only substitutions; the rest is fixed (no other partner-controlled text).
_CSS = """
*,*::before,*::after{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;font-size:100%;
line-height:1.5;color:#0b0c0c;background:#fff;-webkit-text-size-adjust:100%}
body{margin:0}
.skip{position:absolute;left:-9999px;top:0;background:#fff;color:#0b0c0c;padding:.5rem 1rem;z-index:1}
.skip:focus{left:0}
.brand{background:{brand};color:{on_brand};padding:.75rem 1rem;display:flex;align-items:center;gap:.75rem;
flex-wrap:wrap}
.brand img{max-height:3rem;max-width:10rem;height:auto;width:auto;background:#fff;padding:.25rem}
.brand .partner{margin:0;font-weight:700;font-size:1.125rem;overflow-wrap:anywhere}
main{display:block;max-width:44rem;margin:0 auto;padding:1rem}
main:focus{outline:none}
h1{font-size:1.75rem;line-height:1.2;margin:.5rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.375rem;margin:2rem 0 .5rem}
p,dl{margin:0 0 1rem}
.domain{overflow-wrap:anywhere}
fieldset{border:0;margin:0 0 1.5rem;padding:0;min-width:0}
legend{font-weight:700;font-size:1.125rem;padding:0;margin-bottom:.25rem;overflow-wrap:anywhere}
.req{font-weight:400;color:#505a5f}
.hint{color:#505a5f;margin:0 0 .5rem}
.option{display:flex;align-items:flex-start;gap:.5rem;margin:0 0 .5rem}
.option input{width:1.5rem;height:1.5rem;margin:.125rem 0 0;flex:none;accent-color:#0b0c0c}
.option label{flex:1;min-width:0;overflow-wrap:anywhere;cursor:pointer}
.question.invalid{border-left:5px solid #b10e1e;padding-left:.75rem}
.field-error{color:#b10e1e;font-weight:700;margin:0 0 .5rem;overflow-wrap:anywhere}
.summary{border:5px solid #b10e1e;padding:1rem;margin:0 0 1.5rem}
.summary h2{margin-top:0;font-size:1.25rem}
.summary ul{margin:0;padding-left:1.25rem}
.summary a{color:#b10e1e;font-weight:700;overflow-wrap:anywhere}
.notice{border-left:5px solid #00703c;padding:.5rem 1rem;margin:0 0 1.5rem;background:#f3f9f5}
.actions{display:flex;flex-wrap:wrap;gap:1rem;margin:2rem 0}
button{font:inherit;font-weight:700;border:2px solid {brand};background:{brand};color:{on_brand};
padding:.625rem 1.25rem;cursor:pointer;min-height:2.75rem}
button.secondary{background:#fff;color:#0b0c0c;border-color:#0b0c0c}
a{color:#1d4f91}
a:focus-visible,button:focus-visible,input:focus-visible,.skip:focus{outline:3px solid #0b0c0c;outline-offset:3px;
box-shadow:0 0 0 6px #ffdd00}
dt{font-weight:700}
dd{margin:0 0 1rem}
.visually-hidden{position:absolute!important;width:1px;height:1px;margin:0;padding:0;overflow:hidden;
clip:rect(0 0 0 0);white-space:nowrap;border:0}
footer{max-width:44rem;margin:0 auto;padding:1rem;color:#505a5f;font-size:.875rem}
""".strip()


def brand_color(value: str | None) -> str:
    """The partner's colour as `#rrggbb` when it is a hex colour, else the default (never raises)."""
    if value is None or not _HEX.match(value):
        return DEFAULT_COLOR
    digits = value[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits.lower()


def _luminance(color: str) -> float:
    channels = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two `#rrggbb` colours (1 to 21)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_on(background: str) -> str:
    """Pure black or white, whichever reads better on `background` (`#rrggbb`): 4.58:1 at worst."""
    return "#ffffff" if contrast("#ffffff", background) >= contrast("#000000", background) else "#000000"


def stylesheet(color: str | None) -> str:
    """The page's style block for the partner's colour (checked first)."""
    brand = brand_color(color)
    return _CSS.replace("{brand}", brand).replace("{on_brand}", text_on(brand))


def style_hash(css: str) -> str:
    """The CSP source naming this style block: `'sha256-<base64>'`."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


def content_security_policy(css: str | None) -> str:
    """The page's policy: nothing but data: images, this style block and form posts to itself."""
    style = f"style-src {style_hash(css)}; " if css is not None else ""
    return (f"default-src 'none'; {style}img-src data:; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'")
