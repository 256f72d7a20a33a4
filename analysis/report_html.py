"""``report.html``: the study report (``report.md``) as one self-contained page.

The page is rendered from report.md itself, so the two never disagree: same sections, tables,
links and figures, with each figure's PNG inlined as a base64 data URI (the page can be mailed or
attached to a run on its own). Only the Markdown :mod:`analysis.report` writes is understood:
``#``/``##`` headings, paragraphs, ``-`` lists, pipe tables, ``![caption](file.png)`` images and,
inline, ``**bold**``, ```code``` and ``[text](url)`` links.

Example::

    from analysis.report_html import write_html
    write_html("analysis-quick/report.md", "analysis-quick/report.html")
"""

from __future__ import annotations

import base64
import html
import os
import re

_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")
_LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<url>[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
#: The links the report writes: to the MLflow server (http/https) or within the page.
_SAFE_URL = re.compile(r"^(https?://|#)", re.IGNORECASE)

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 0.5em 0 1.5em; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def inline(text: str) -> str:
    """Escape ``text`` and turn its ``**bold**``, ```code``` and ``[text](url)`` into HTML."""
    out, last = [], 0
    for match in _LINK.finditer(text):  # links first: their URLs must not be touched by the rest
        if not _SAFE_URL.match(match["url"]):  # text from run data: no javascript:/data: links
            continue
        out.append(_emphasis(text[last:match.start()]))
        url = html.escape(match["url"], quote=True)
        out.append(f'<a href="{url}">{_emphasis(match["text"])}</a>')
        last = match.end()
    out.append(_emphasis(text[last:]))
    return "".join(out)


def _emphasis(text: str) -> str:
    text = html.escape(text, quote=False)
    text = _CODE.sub(r"<code>\1</code>", text)
    return _BOLD.sub(r"<strong>\1</strong>", text)


def data_uri(path: str) -> str:
    """A PNG (or SVG) file as a ``data:`` URI."""
    kind = "image/svg+xml" if path.endswith(".svg") else "image/png"
    with open(path, "rb") as handle:
        return f"data:{kind};base64,{base64.b64encode(handle.read()).decode('ascii')}"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def render(markdown: str, base_dir: str, title: str | None = None) -> str:
    """The HTML page of ``markdown`` (the report's subset), images read from ``base_dir``."""
    lines = markdown.splitlines()
    body: list[str] = []
    paragraph: list[str] = []
    i = 0

    def flush() -> None:
        if paragraph:
            body.append(f"<p>{inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    while i < len(lines):
        line = lines[i].rstrip()
        image = _IMAGE.match(line)
        if not line:
            flush()
        elif line.startswith("#"):
            flush()
            level = min(len(line) - len(line.lstrip("#")), 6)
            text = line[level:].strip()
            title = title or text
            body.append(f"<h{level}>{inline(text)}</h{level}>")
        elif image:
            flush()
            path = os.path.join(base_dir, image["src"])
            alt = html.escape(image["alt"], quote=True)
            if os.path.exists(path):
                body.append(f'<figure><img src="{data_uri(path)}" alt="{alt}">'
                            f"<figcaption>{inline(image['alt'])}</figcaption></figure>")
            else:
                body.append(f"<p><em>figure {html.escape(image['src'])} missing</em></p>")
        elif line.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            separator = len(rows) > 1 and all(c and set(c) <= set("-: ") for c in rows[1])
            header, data = rows[0], rows[2:] if separator else rows[1:]
            body.append("<table><thead><tr>" + "".join(f"<th>{inline(c)}</th>" for c in header)
                        + "</tr></thead><tbody>"
                        + "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in data)
                        + "</tbody></table>")
            continue
        elif line.startswith("- "):
            flush()
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{inline(lines[i][2:].strip())}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        else:
            paragraph.append(line.strip())
        i += 1
    flush()
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title or 'report')}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_html(markdown_path: str, out_path: str) -> str:
    """Render ``markdown_path`` (report.md) to ``out_path`` (report.html); returns ``out_path``."""
    with open(markdown_path, encoding="utf-8") as handle:
        text = handle.read()
    page = render(text, os.path.dirname(os.path.abspath(markdown_path)))
    with open(out_path, "w", encoding="utf-8") as handle:
        handle.write(page)
    return out_path
