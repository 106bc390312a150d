"""Every citation of docs/design.md in the repository names a section that the document has."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_design_doc_citations_name_existing_sections():
    headings = {m.group(1).strip() for m in re.finditer(r"^#{2,4} (.+)$", (REPO / "docs" / "design.md").read_text(), re.M)}
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    cited = {}
    for name in files:
        path = REPO / name
        if path.is_symlink() or not path.is_file() or path.suffix in (".h5", ".npz", ".png", ".pdf") \
                or path == Path(__file__).resolve():
            continue
        text = path.read_text(errors="replace")
        assert "DESIGN.md" not in text, f"{name} cites DESIGN.md (outside the repository): cite docs/design.md"
        for section in re.findall(r'docs/design\.md "([^"]+)"', text):
            cited.setdefault(section, []).append(name)
    assert cited, "no file cites docs/design.md"
    missing = {s: f for s, f in cited.items() if s not in headings}
    assert not missing, f"sections cited but not in docs/design.md: {missing}"
