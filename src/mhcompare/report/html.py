"""One self-contained HTML page from the report's blocks: plots inlined as data URIs, no scripts,
no external files, so it can be mailed or opened offline."""
import base64
import html
import re

from mhcompare.report.document import Bullets, Code, Embedded, Figure, Heading, Paragraph, Table

STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "Noto Sans", sans-serif; color: #1b1f24;
       margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { font-size: 26px; margin-top: 8px; } h2 { border-bottom: 2px solid #d8dee4; padding-bottom: 4px; margin-top: 40px; }
h3 { margin-top: 28px; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13px; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f4; } tr:nth-child(even) td { background: #fafbfc; }
figure { margin: 16px 0; } figure img { max-width: 100%; border: 1px solid #e1e4e8; }
figcaption { color: #57606a; font-size: 13px; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12.5px; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; white-space: pre-wrap; }
#recommendation + p + ul { background: #f0f7ff; border-left: 4px solid #0969da; padding: 10px 10px 10px 32px; }
"""


def inline(text: str) -> str:
    """Escape, then turn the Markdown subset the report uses into tags."""
    out = html.escape(text, quote=True)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"\*(.+?)\*", r"<em>\1</em>", out)
    out = re.sub(r"`(.+?)`", r"<code>\1</code>", out)
    return re.sub(r"\[(.+?)\]\((.+?)\)", r'<a href="\2">\1</a>', out)


def to_html(blocks: list, title: str, images: dict[str, bytes]) -> str:
    """`images` maps each Figure's file name to its PNG bytes."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            anchor = f' id="{html.escape(block.anchor)}"' if block.anchor else ""
            parts.append(f"<h{block.level}{anchor}>{inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            parts.append("<ul>" + "".join(f"<li>{inline(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{inline(str(cell))}</th>" for cell in block.header)
            body = "".join("<tr>" + "".join(f"<td>{inline(str(cell))}</td>" for cell in row) + "</tr>"
                           for row in block.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Figure):
            data = base64.b64encode(images[block.file]).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(block.caption)}" data-file="{html.escape(block.file)}" '
                         f'src="data:image/png;base64,{data}">'
                         f"<figcaption>{inline(block.caption)}</figcaption></figure>")
        elif isinstance(block, Code):
            parts.append(f"<pre>{html.escape(block.text.rstrip())}</pre>")
        elif isinstance(block, Embedded):
            parts.append(f'<details open><summary>{inline(block.title)} (<a href="{html.escape(block.file)}">'
                         f'{html.escape(block.file)}</a>)</summary><pre>{html.escape(block.text.rstrip())}</pre>'
                         "</details>")
        else:
            raise TypeError(f"no HTML for {type(block).__name__}")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(parts) + "\n</main>\n</body>\n</html>\n")
