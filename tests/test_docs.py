"""Every relative link in README.md and docs/*.md leads somewhere: the file exists, and a #anchor
names a heading of it (GitHub's anchors). Fast: no TensorFlow.

    python -m pytest -q tests/test_docs.py
"""

import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def pages():
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def prose_lines(path):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif not fenced:
                yield number, line


def anchor(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped (markdown's ` included), spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    for _, line in prose_lines(path):
        match = re.match(r"^#{1,6} (.+)$", line.rstrip("\n"))
        if match:
            slug = anchor(match.group(1))
            out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return out


def broken_links(paths):
    problems = []
    for path in paths:
        for number, line in prose_lines(path):
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                    continue
                file_part, _, fragment = target.partition("#")
                linked = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
                where = f"{os.path.relpath(path, ROOT)}:{number}: {target}"
                if not os.path.exists(linked):
                    problems.append(f"{where}: no such file")
                elif fragment and (not linked.endswith(".md") or fragment not in anchors(linked)):
                    problems.append(f"{where}: no heading with that anchor in {os.path.relpath(linked, ROOT)}")
    return problems


def test_every_relative_link_and_anchor_in_the_docs_resolves():
    assert len(pages()) > 5
    problems = broken_links(pages())
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_checker_finds_a_broken_link_and_anchor(tmp_path):
    page = tmp_path / "a.md"
    page.write_text("# Title: `x.y` (z)\n\n## Same\n## Same\n\n[ok](#title-xy-z) [ok](#same-1) [bad](#nope) [gone](b.md)\n"
                    "```\n[in code](nowhere.md)\n```\n[web](https://example.com/x.md)\n", encoding="utf-8")
    problems = broken_links([str(page)])
    assert len(problems) == 2 and "#nope" in problems[0] and "b.md: no such file" in problems[1], problems
