#!/usr/bin/env python3
"""Cut the C code block of a Markdown section out of a document: doc_example.py DOC SECTION OUT.

SECTION is the heading's text without its "## "; the first ```c block of that section is written
to OUT (a build and a test compile it: a document's example that stopped compiling fails them).
"""
import sys


def main():
    doc, section, out = sys.argv[1:4]
    lines = open(doc, encoding="utf-8").read().split("\n")
    try:
        start = lines.index("## " + section)
    except ValueError:
        sys.exit("%s: no section '## %s'" % (doc, section))
    code, inside = [], False
    for line in lines[start + 1:]:
        if not inside and line.startswith("## "):
            break
        if not inside and line == "```c":
            inside = True
        elif inside and line == "```":
            break
        elif inside:
            code.append(line)
    if not code:
        sys.exit("%s: section '## %s' has no ```c block" % (doc, section))
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(code) + "\n")


if __name__ == "__main__":
    main()
