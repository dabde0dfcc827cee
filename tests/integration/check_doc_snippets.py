#!/usr/bin/env python3
"""Checks that every ```cpp block of a guide appears verbatim in a compiled example.

    check_doc_snippets.py docs/api-guide.md examples/quickstart/main.cpp

A block matches when its lines, each stripped of leading and trailing whitespace, occur as consecutive
lines of the source, stripped the same way (so a snippet may be re-indented, nothing else). Blank lines
inside a block must be blank in the source too. The example is compiled and run by ctest
(example_quickstart), so a guide that passes this check shows only code that builds and does what it
says. Exit status: 0 when every block matches, 1 otherwise (each stray block is printed), 2 on bad usage.
"""

import re
import sys
from pathlib import Path

# An opening fence of a C++ block, with its indentation and backtick run; closed by the same run.
FENCE_OPEN = re.compile(r"^(\s*)(`{3,})\s*(cpp|c\+\+)\s*$", re.IGNORECASE)


def cpp_blocks(markdown):
    """Yields (first line number, [lines]) for each ```cpp block of `markdown`."""
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opened = FENCE_OPEN.match(lines[i])
        if not opened:
            i += 1
            continue
        fence = opened.group(2)
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        if end == len(lines):
            raise ValueError(f"line {i + 1}: ```cpp block is never closed")
        yield start + 1, lines[start:end]
        i = end + 1


def normalise(lines):
    return [line.strip() for line in lines]


def trim_blank_edges(lines):
    while lines and not lines[0]:
        lines = lines[1:]
    while lines and not lines[-1]:
        lines = lines[:-1]
    return lines


def find_block(block, source):
    """The 1-based source line where `block` starts, or None."""
    n = len(block)
    for start in range(len(source) - n + 1):
        if source[start:start + n] == block:
            return start + 1
    return None


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    guide_path, source_path = Path(argv[1]), Path(argv[2])
    try:
        guide = guide_path.read_text(encoding="utf-8")
        source = normalise(source_path.read_text(encoding="utf-8").splitlines())
        blocks = list(cpp_blocks(guide))
    except (OSError, ValueError) as error:
        print(f"check_doc_snippets: {error}", file=sys.stderr)
        return 2

    if not blocks:
        print(f"{guide_path}: no ```cpp blocks found; nothing would be checked", file=sys.stderr)
        return 1
    stray = 0
    for line, block in blocks:
        wanted = trim_blank_edges(normalise(block))
        if not wanted:
            print(f"{guide_path}:{line}: empty ```cpp block", file=sys.stderr)
            stray += 1
        elif find_block(wanted, source) is None:
            print(f"{guide_path}:{line}: ```cpp block not found verbatim in {source_path}:", file=sys.stderr)
            for text in block:
                print(f"    {text}", file=sys.stderr)
            stray += 1
    if stray:
        print(f"{stray} of {len(blocks)} block(s) drifted from {source_path}; copy them from the code "
              "between its // [guide:NAME] markers", file=sys.stderr)
        return 1
    print(f"{len(blocks)} ```cpp block(s) of {guide_path.name} found in {source_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
