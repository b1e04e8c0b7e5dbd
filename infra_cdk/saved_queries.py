"""The analysts' saved queries (docs/athena/*.sql): deployed as Athena named queries, run
unchanged by `climatrak query --file` on the local lake. No CDK import here: the local tests
read them too."""

from __future__ import annotations

from pathlib import Path

from infra_cdk.layer import REPO_ROOT

SAVED_QUERIES_DIR = REPO_ROOT / "docs" / "athena"


def saved_queries(directory: Path = SAVED_QUERIES_DIR) -> dict[str, tuple[str, str]]:
    """docs/athena/*.sql by file stem: (description from the leading `--` lines, SQL text)."""
    queries: dict[str, tuple[str, str]] = {}
    for path in sorted(directory.glob("*.sql")):
        text = path.read_text()
        comments = [line.removeprefix("--").strip() for line in text.splitlines() if line.startswith("--")]
        queries[path.stem] = (" ".join(comments)[:1024], text)
    return queries
