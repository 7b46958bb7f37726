"""The part of each rule's page that the detector itself states (summary, severity policy,
tables needed, parameters with their policy keys and defaults), and the index of the rules.
Written by `rareflow rules --docs docs/rules`; a test keeps the pages in step."""

from __future__ import annotations

from pathlib import Path

from rareflow.analyses.detector import Detector

BEGIN = "<!-- begin: generated from the detector by `rareflow rules --docs docs/rules` -->"
END = "<!-- end: generated -->"


def block(d: Detector) -> str:
    """The generated block of `d`'s page."""
    lines = [BEGIN, "", f"**Summary.** {d.summary}", "",
             f"**Severity.** {d.severity}.", "",
             f"**Needs.** {', '.join(f'`{n}`' for n in d.needs) or 'any dataset'}.", "",
             f"**Detector.** `rareflow/analyses/rules/{d.name}.py`.", ""]
    params = d.parameters()
    if params:
        lines += ["**Parameters** (policy file, under `analysis:`):", "",
                  "| key | type | default |", "|---|---|---|"]
        lines += [f"| `{section}.{name}` | {kind} | {default} |"
                  for section, name, kind, default in params]
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def with_block(text: str, d: Detector) -> str:
    """`text` (a rule page) with its generated block replaced, or inserted after the title."""
    new = block(d)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + new + rest.split(END, 1)[1]
    title, sep, body = text.partition("\n")
    return f"{title}\n\n{new}\n{sep}{body}"


def index(rules: tuple[Detector, ...]) -> str:
    """docs/rules/README.md: every rule, its severity policy and its page."""
    lines = ["# Rules", "", "Generated from the detectors (`rareflow rules --docs docs/rules`)."
             " Each rule is one module `src/rareflow/analyses/rules/<rule>.py`.", "",
             "| rule | what fires it | severity |", "|---|---|---|"]
    lines += [f"| [`{d.name}`]({d.name}.md) | {d.summary} | {d.severity} |" for d in rules]
    return "\n".join(lines) + "\n"


def write_docs(folder: Path, rules: tuple[Detector, ...]) -> list[Path]:
    """Update each rule's page and the index in `folder`; the paths changed."""
    changed = []
    for d in rules:
        page = folder / f"{d.name}.md"
        old = page.read_text(encoding="utf-8") if page.exists() else f"# {d.name}\n"
        new = with_block(old, d)
        if new != old:
            page.write_text(new, encoding="utf-8")
            changed.append(page)
    ix = folder / "README.md"
    text = index(rules)
    if not ix.exists() or ix.read_text(encoding="utf-8") != text:
        ix.write_text(text, encoding="utf-8")
        changed.append(ix)
    return changed
