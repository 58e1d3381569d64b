#!/usr/bin/env python3
"""Turns the raw package text into plain training text (stdlib only).

kjv:   output of `bible -l0 gen1:1-rev22:21`: a "Book N" heading per chapter and
       "  N verse text" lines. Writes one verse per line (numbers dropped) and a
       blank line between chapters.
devil: the dictd database of dict-devil (gzip'ed text + index). Drops the
       00-database-* header entries, keeps every article as printed (poems keep
       their line breaks, indentation removed), a blank line between articles.
"""
import argparse
import gzip
import re

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64_number(s):
    n = 0
    for c in s:
        n = n * 64 + B64.index(c)
    return n


def kjv(raw):
    chapters, verses = [], []
    for line in raw.splitlines():
        m = re.match(r"^\s+\d+ (.*\S)\s*$", line)
        if m:
            verses.append(m.group(1))
        elif line.strip() and verses:
            chapters.append("\n".join(verses))
            verses = []
    if verses:
        chapters.append("\n".join(verses))
    return "\n\n".join(chapters) + "\n"


def devil(data, index_lines):
    entries = []
    for line in index_lines:
        word, off, length = line.rstrip("\n").split("\t")
        if word.startswith("00database"):
            continue
        entries.append((b64_number(off), b64_number(length)))
    articles = []
    for off, length in sorted(set(entries)):
        text = data[off:off + length].decode("utf-8")
        lines = [l.strip() for l in text.splitlines()]
        body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        body = body.replace("_", "")  # italics markers of the etext
        if body:
            articles.append(body)
    return "\n\n".join(articles) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["kjv", "devil"])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--index")
    a = ap.parse_args()
    if a.kind == "kjv":
        with open(a.src, encoding="utf-8") as f:
            text = kjv(f.read())
    else:
        if not a.index:
            ap.error("devil needs --index")
        with gzip.open(a.src, "rb") as f:
            data = f.read()
        with open(a.index, encoding="utf-8") as f:
            text = devil(data, f.readlines())
    with open(a.dst, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


if __name__ == "__main__":
    main()
