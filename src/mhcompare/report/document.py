"""The report as a list of blocks, rendered to Markdown here and to HTML in html.py, so the two
always say the same thing. Text may use **bold**, `code` and [links](file)."""
import math
from dataclasses import dataclass


def fmt(value) -> str:
    """A number for people: four significant digits, no exponent between 1e-4 and 1e9, "—" for none."""
    if value is None:
        return "—"
    value = float(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if -4 <= magnitude < 9:
        return f"{value:.{max(0, 3 - magnitude)}f}"
    return f"{value:.3e}"


def interval(stats: dict) -> str:
    """`mean [low, high] (n=3)`: the cell of every results table."""
    if not stats or stats["mean"] is None:
        return "—"
    if stats["ci_low"] is None:
        return f"{fmt(stats['mean'])} (n={stats['n']})"
    return f"{fmt(stats['mean'])} [{fmt(stats['ci_low'])}, {fmt(stats['ci_high'])}] (n={stats['n']})"


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str = ""


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    file: str  # a PNG beside the report
    caption: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Embedded:
    """A document of its own (the human judge analysis): linked from Markdown, inlined in HTML."""
    file: str
    title: str
    text: str


def to_markdown(blocks: list) -> str:
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Table):
            lines = [row_markdown(block.header), "|" + "---|" * len(block.header)]
            lines += [row_markdown(row) for row in block.rows]
            parts.append("\n".join(lines))
        elif isinstance(block, Figure):
            parts.append(f"![{block.caption}]({block.file})\n\n*{block.caption}*")
        elif isinstance(block, Code):
            parts.append(f"```\n{block.text.rstrip()}\n```")
        elif isinstance(block, Embedded):
            parts.append(f"{block.title}: [{block.file}]({block.file})")
        else:
            raise TypeError(f"no Markdown for {type(block).__name__}")
    return "\n\n".join(parts) + "\n"


def row_markdown(cells) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"
