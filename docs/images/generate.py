"""Draw the README's pictures from real output of the bundled example project.

    python docs/images/generate.py [--out DIR]

Runs pytest with gridgate and the scanner on ``examples/`` and draws, as SVG:

- ``terminal-gate-section.svg``: the ``gridgate`` section of pytest's terminal summary;
- ``step-summary.svg``: the Markdown step summary, laid out as a GitHub job summary shows
  it (table, counts, collapsed details);
- ``pr-annotations.svg``: two ``--format github`` findings as annotations on the lines
  of a pull request's diff.

Standard library plus markdown-it-py (the test extra), so anyone with the development
environment can redraw them; nothing is fetched. The numbers (pids, ports, durations)
are those of the run that drew them.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
RUN_TIMEOUT = 600
WIDTH_CHARS = 112
CHAR_W = 8.0  # px per character of 13 px monospace, with room to spare
LINE_H = 18
MONO = "'DejaVu Sans Mono', Menlo, Consolas, monospace"
SANS = "-apple-system, 'Segoe UI', Helvetica, Arial, 'DejaVu Sans', sans-serif"
# pytest's SGR colours, on a dark terminal.
ANSI = {"31": "#f85149", "32": "#3fb950", "33": "#d29922", "36": "#39c5cf", "35": "#bc8cff"}
_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def run_examples(tmp: Path) -> tuple[str, str]:
    """pytest's coloured terminal output and the Markdown summary of one run."""
    summary = tmp / "summary.md"
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["COLUMNS"] = str(WIDTH_CHARS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "gridgate", "--color=yes",
         "-p", "no:cacheprovider", f"--gridgate-summary={summary}"],
        cwd=EXAMPLES, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    if not summary.is_file():
        raise RuntimeError(f"pytest wrote no summary (exit {result.returncode}):\n"
                 f"{result.stdout[-2000:]}{result.stderr[-2000:]}")  # fmt: skip
    return _anonymise(result.stdout), _anonymise(summary.read_text(encoding="utf-8"))


def run_scan() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "scanners", "--format", "github"],
        cwd=EXAMPLES, capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    return result.stdout


def _anonymise(text: str) -> str:
    """Paths of this machine out: the pictures show what any checkout shows."""
    text = text.replace(sys.executable, "python3").replace(str(Path(sys.executable)), "python3")
    return text.replace(f"{EXAMPLES}/", "").replace(f"{ROOT}/", "")


# --------------------------------------------------------------------------- terminal


def gate_section(output: str) -> list[str]:
    """From pytest's ``= gridgate =`` line to its verdict line, colours kept."""
    lines = output.splitlines()
    plain = [_SGR.sub("", line) for line in lines]
    start = next(i for i, line in enumerate(plain) if re.fullmatch(r"=+ gridgate =+", line))
    end = next(i for i in range(start, len(plain)) if plain[i].startswith("gridgate: "))
    last = next(line for line in reversed(lines) if re.search(r" in [\d.]+s", line))
    return [*lines[start : end + 1], "...", last]


def _spans(line: str) -> list[tuple[str, str | None, bool]]:
    """(text, colour, bold) runs of one line with SGR codes."""
    spans: list[tuple[str, str | None, bool]] = []
    colour: str | None = None
    bold, pos = False, 0
    for match in _SGR.finditer(line):
        if match.start() > pos:
            spans.append((line[pos : match.start()], colour, bold))
        for code in (match.group(1) or "0").split(";"):
            if code in ("0", ""):
                colour, bold = None, False
            elif code == "1":
                bold = True
            elif code in ANSI:
                colour = ANSI[code]
            elif code.startswith("9") and code[1:] and "3" + code[1:] in ANSI:
                colour = ANSI["3" + code[1:]]
        pos = match.end()
    spans.append((line[pos:], colour, bold))
    return spans


def terminal_svg(lines: list[str], title: str) -> str:
    width = int(WIDTH_CHARS * CHAR_W) + 32
    height = 44 + LINE_H * len(lines) + 16
    out = [_svg_open(width, height),
           f'<rect width="{width}" height="{height}" rx="8" fill="#0d1117"/>',
           *(f'<circle cx="{18 + 20 * i}" cy="16" r="6" fill="{c}"/>'
             for i, c in enumerate(("#ff5f56", "#ffbd2e", "#27c93f"))),
           f'<text x="{width / 2}" y="21" fill="#8b949e" font-family="{SANS}" font-size="13" '
           f'text-anchor="middle">{html.escape(title)}</text>',
           f'<g font-family="{MONO}" font-size="13" xml:space="preserve">']  # fmt: skip
    for i, line in enumerate(lines):
        y = 50 + LINE_H * i
        tspans = []
        used = 0
        for text, colour, bold in _spans(line):
            if used >= WIDTH_CHARS:
                break
            if used + len(text) > WIDTH_CHARS:
                text = text[: WIDTH_CHARS - used - 1] + "…"
            used += len(text)
            attrs = f' fill="{colour}"' if colour else ""
            attrs += ' font-weight="bold"' if bold else ""
            tspans.append(f"<tspan{attrs}>{html.escape(text)}</tspan>")
        out.append(f'<text x="16" y="{y}" fill="#e6edf3">{"".join(tspans)}</text>')
    out += ["</g>", "</svg>"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- step summary


def summary_svg(markdown: str) -> str:
    """The job summary as GitHub lays it out: heading, table, paragraph, closed details."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    heading, rows, paragraphs, details = "", [], [], []
    row: list[str] = []
    for i, token in enumerate(tokens):
        if token.type == "inline" and tokens[i - 1].type == "heading_open":
            heading = token.content
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and tokens[i - 1].type in ("th_open", "td_open"):
            row.append(token.content.replace("\\|", "|"))
        elif token.type == "tr_close":
            rows.append(row)
        elif token.type == "inline" and tokens[i - 1].type == "paragraph_open":
            if tokens[i - 1].level == 0:  # not the list items inside <details>
                paragraphs.append(token.content)
        elif token.type == "html_block" and "<summary>" in token.content:
            details.append(re.sub(r".*<summary>(.*)</summary>.*", r"\1", token.content.strip()))
    cols = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    col_w = [max(90, 7.2 * n + 26) for n in cols]
    width = max(760, int(sum(col_w)) + 48)
    table_h = 34 * len(rows)
    height = 96 + table_h + 40 * len(paragraphs) + 30 * len(details) + 30
    out = [_svg_open(width, height),
           f'<rect width="{width}" height="{height}" rx="6" fill="#ffffff" stroke="#d0d7de"/>',
           f'<g font-family="{SANS}" fill="#1f2328">',
           '<text x="24" y="34" font-size="13" fill="#59636e">test summary</text>',
           f'<text x="24" y="68" font-size="22" font-weight="600">{html.escape(heading)}</text>',
           f'<line x1="24" x2="{width - 24}" y1="80" y2="80" stroke="#d1d9e0"/>']  # fmt: skip
    y = 96
    for r, cells in enumerate(rows):
        x = 24.0
        fill = "#f6f8fa" if r % 2 == 0 and r else "#ffffff"
        out.append(f'<rect x="24" y="{y}" width="{sum(col_w)}" height="34" fill="{fill}" '
                   f'stroke="#d1d9e0"/>')  # fmt: skip
        for c, cell in enumerate(cells):
            weight = ' font-weight="600"' if r == 0 else ""
            out.append(f'<text x="{x + 13}" y="{y + 22}" font-size="14"{weight}>'
                       f"{html.escape(cell)}</text>")  # fmt: skip
            if c:
                out.append(f'<line x1="{x}" x2="{x}" y1="{y}" y2="{y + 34}" stroke="#d1d9e0"/>')
            x += col_w[c]
        y += 34
    y += 30
    for text in paragraphs:
        out.append(f'<text x="24" y="{y}" font-size="14">{html.escape(text)}</text>')
        y += 40
    for name in details:
        out.append(f'<text x="24" y="{y}" font-size="14">▸ {html.escape(name)}</text>')
        y += 30
    out += ["</g>", "</svg>"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- annotations

_ANNOTATION = re.compile(r"^::(error|warning) file=([^,]+),line=(\d+),[^:]*?title=(\w+)::(.*)$")


def annotations_svg(github_output: str, wanted: tuple[str, ...]) -> str:
    """Findings drawn under their lines, as the pull request's "Files changed" tab does."""
    found = {}
    for line in github_output.splitlines():
        match = _ANNOTATION.match(line)
        if match and match.group(4) in wanted and match.group(4) not in found:
            found[match.group(4)] = match.groups()
    blocks: list[str] = []
    y = 16
    width = int(WIDTH_CHARS * CHAR_W) + 32
    for code in wanted:
        level, path, number, title, message = found[code]
        source = (EXAMPLES / path).read_text(encoding="utf-8").splitlines()
        n = int(number)
        context = range(max(1, n - 2), min(len(source), n + 1) + 1)
        box_h = 38 + LINE_H * len(context) + 64
        blocks += [f'<rect x="16" y="{y}" width="{width - 32}" height="{box_h}" rx="6" '
                   f'fill="#ffffff" stroke="#d0d7de"/>',
                   f'<rect x="16.5" y="{y + 0.5}" width="{width - 33}" height="34" rx="6" '
                   f'fill="#f6f8fa"/>',
                   f'<text x="32" y="{y + 22}" font-family="{MONO}" font-size="13" '
                   f'font-weight="600">{html.escape(path)}</text>']  # fmt: skip
        ly = y + 34 + LINE_H
        for k in context:
            text = source[k - 1][: WIDTH_CHARS - 8]
            blocks += [f'<rect x="17" y="{ly - 13}" width="{width - 34}" height="{LINE_H}" '
                       f'fill="#dafbe1"/>',
                       f'<text x="32" y="{ly}" font-family="{MONO}" font-size="13" '
                       f'fill="#59636e">{k:>4}</text>',
                       f'<text x="80" y="{ly}" font-family="{MONO}" font-size="13" '
                       f'xml:space="preserve">+ {html.escape(text)}</text>']  # fmt: skip
            ly += LINE_H
            if k == n:
                blocks += [f'<rect x="28" y="{ly - 8}" width="{width - 56}" height="56" rx="6" '
                           f'fill="#ffebe9" stroke="#ff818266"/>',
                           f'<rect x="28" y="{ly - 8}" width="4" height="56" fill="#cf222e"/>',
                           f'<text x="44" y="{ly + 12}" font-family="{SANS}" font-size="13" '
                           f'font-weight="600" fill="#cf222e">✖ Check {"failure" if level == "error" else "warning"}'  # noqa: E501
                           f" on line {n} in {html.escape(path)}: {title}</text>",
                           f'<text x="44" y="{ly + 34}" font-family="{SANS}" font-size="13">'
                           f"{html.escape(message[:110])}</text>"]  # fmt: skip
                ly += 64
        y += box_h + 16
    return "\n".join([_svg_open(width, y), *blocks, "</svg>"]) + "\n"


def _svg_open(width: float, height: float) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">'
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    out = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gridgate-images-") as tmp:
        terminal, markdown = run_examples(Path(tmp))
    title = "pytest on examples/: the gridgate section of the terminal summary"
    pictures = {
        "terminal-gate-section.svg": terminal_svg(gate_section(terminal), title),
        "step-summary.svg": summary_svg(markdown),
        "pr-annotations.svg": annotations_svg(run_scan(), ("GG004", "GW001")),
    }
    for name, svg in pictures.items():
        (out / name).write_text(svg, encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
