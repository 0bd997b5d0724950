"""An OpenAI answer reduced to the care guide's structure: plain text per section, nothing else.

A chat model may answer with HTML, images, links or Markdown of its own, and a compromised or
misbehaving server may put anything there. Before anything else reads an answer it goes through
:func:`plain_answer`: HTML elements that carry code or frames (``<script>``, ``<iframe>``,
``<svg>`` …) are dropped with their content, every other tag is dropped, images are dropped,
links keep their text but lose their target, bare URLs (any scheme: no link is allowed, so there is
no allow-list to keep), and Markdown emphasis, headings, quotes, tables and code marks are
removed, and secrets (the API key, ``sk-…`` and ``Bearer …`` tokens) are cut out. Only the line
structure and list markers survive, so :func:`parse_sections` can find 원인 / 특징 / 관리방안
and :func:`split_steps` the numbered steps; :func:`section_text` makes one plain line of a
section. The guide's own renderer (``CareGuide.to_markdown``) adds the only Markdown shown.

    >>> plain_answer('원인: <b>피지</b> [보기](javascript:alert(1)) <img src=x onerror=alert(1)>')
    '원인: 피지 보기'
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from .compliance import LIST_MARKER, has_words, split_marker

SECTION_KEYS = ("원인", "특징", "관리방안")
SECTION_NAMES = {
    "원인": "원인",
    "cause": "원인",
    "causes": "원인",
    "특징": "특징",
    "feature": "특징",
    "features": "특징",
    "관리방안": "관리방안",
    "care": "관리방안",
}

# Elements whose content is code, styling or another document: dropped whole, content included.
_ACTIVE_ELEMENTS = re.compile(
    r"<\s*(script|style|iframe|frame|frameset|object|embed|applet|svg|math|template|noscript|textarea"
    r"|title|xmp|noembed|noframes|select|canvas|video|audio)\b.*?(?:<\s*/\s*\1\s*>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
# A closed tag (it may span lines), then what is left of an unclosed one, to the end of its line.
_TAG = re.compile(r"<\s*[/!?]?\s*[a-zA-Z][^<>]*>")
_UNCLOSED_TAG = re.compile(r"<\s*[/!?]?\s*[a-zA-Z][^\n]*")
_MD_IMAGE = re.compile(r"!\[[^\]\n]*\](?:\((?:[^()\n]|\([^()\n]*\))*\)|\[[^\]\n]*\])?")
_MD_LINK = re.compile(r"\[([^\]\n]*)\](?:\((?:[^()\n]|\([^()\n]*\))*\)|\[[^\]\n]*\])")
_MD_LINK_DEFINITION = re.compile(r"^[ \t]*\[[^\]\n]+\]:[^\n]*$", re.MULTILINE)
# Anything that looks like a link target: a URL scheme (javascript:, data:, https: …) or www.
_URL = re.compile(
    r"\b[a-z][a-z0-9+.\-]*://\S*|\b(?:javascript|vbscript|data|file|blob|mailto):\S*|\bwww\.\S+",
    re.IGNORECASE,
)
_SECRET = re.compile(r"\b(?:sk|pk|rk|sess)-[A-Za-z0-9_\-]{6,}|\bBearer\s+\S+", re.IGNORECASE)
_HEADING_OR_QUOTE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]*|>[ \t]*)+", re.MULTILINE)
_HORIZONTAL_RULE = re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$", re.MULTILINE)
# Markdown and HTML characters that no plain sentence of a care guide needs. A tilde stays, as the
# fullwidth one Korean ranges use ("2～3분"), which Markdown does not read as strikethrough.
_MARKUP_CHARS = re.compile(r"[*_`|<>\[\]\\]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"(?<=\S) +([.,!?。])(?=\s|$)")
_BULLET = re.compile(r"^([ \t]*)[*+•·▪‣◦-][ \t]+", re.MULTILINE)
# Tolerates Markdown around a header ("**원인**:", "### 특징") for callers that pass raw text.
_HEADER = re.compile(
    r"^[ \t#>*\-]*(?:\*\*)?[ \t]*(원인|특징|관리[ \t]*방안|causes?|features?|care)[ \t]*(?:\*\*)?[ \t]*"
    r"(?:[:：][ \t]*(?:\*\*)?|$)",
    re.IGNORECASE | re.MULTILINE,
)
_INLINE_STEP = re.compile(r"(?<=[.!?。])[ \t]+(?=\d{1,2}[.)][ \t])")


def _without_secrets(text: str, secrets: Iterable[str]) -> str:
    text = _SECRET.sub("", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "")
    return text


def plain_answer(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` as plain lines: no HTML, images, links, URLs, Markdown or secrets; list markers kept."""
    secrets = tuple(secrets)
    text = _without_secrets(text, secrets)
    # Entities first, twice, so an encoded "&amp;lt;script&amp;gt;" is seen as the tag it spells.
    text = html.unescape(html.unescape(text)).replace("\r\n", "\n").replace("\r", "\n")
    text = _without_secrets(text, secrets)
    text = _COMMENT.sub("", text)
    text = _ACTIVE_ELEMENTS.sub("", text)
    text = _TAG.sub("", text)
    text = _UNCLOSED_TAG.sub("", text)
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK_DEFINITION.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _URL.sub("", text)
    text = _SECRET.sub("", text)
    text = _HORIZONTAL_RULE.sub("", text)
    text = _HEADING_OR_QUOTE.sub("", text)
    text = _BULLET.sub(r"\1- ", text)  # one bullet marker, so "*" can go with the other Markdown
    text = _MARKUP_CHARS.sub("", text.replace("~~", "")).replace("~", "～")
    lines = []
    for line in text.split("\n"):
        # Spaces collapsed, and none left before punctuation where something between was removed.
        line = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", re.sub(r"[ \t\u00a0]+", " ", line)).strip()
        if line:
            lines.append(line)
    return "\n".join(lines)


def parse_sections(text: str) -> dict[str, str] | None:
    """Split an answer into 원인 / 특징 / 관리방안; None when any is missing or empty.

    Meant for :func:`plain_answer` output, though Markdown around a header ("**원인**:", "### 특징") is
    tolerated; the first header of each name counts."""
    found: dict[str, str] = {}
    matches = list(_HEADER.finditer(text))
    for i, m in enumerate(matches):
        key = SECTION_NAMES.get(re.sub(r"\s+", "", m.group(1)).lower())
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[m.end() : end].strip()
        if key and key not in found and body:
            found[key] = body
    return found if all(found.get(k) for k in SECTION_KEYS) else None


def section_text(body: str) -> str:
    """A section as one plain line (its lines joined)."""
    return " ".join(line.strip() for line in body.splitlines() if line.strip())


def split_steps(body: str) -> list[str]:
    """The steps of a 관리방안 section, one plain line each, without their markers.

    A step starts at a line's list marker ("1.", "2)", "-") and runs to the next one; text before
    the first marker is an introduction, not a step. A section without markers has a step per line.
    Matching never crosses a line, so "1.\\n2. …" is an empty step 1 (dropped), never "2. …" as 1."""
    lines = [line for line in _INLINE_STEP.sub("\n", body).splitlines() if line.strip()]
    if not any(LIST_MARKER.match(line) for line in lines):
        return [line.strip() for line in lines if has_words(line)]
    steps: list[list[str]] = []
    for line in lines:
        marker, rest = split_marker(line)
        if marker:
            steps.append([rest.strip()])
        elif steps:
            steps[-1].append(line.strip())
    joined = (" ".join(part for part in step if part) for step in steps)
    return [step for step in joined if has_words(step)]
