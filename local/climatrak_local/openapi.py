"""Write the API's OpenAPI document (generated from the handlers' pydantic models).

python -m climatrak_local.openapi docs/openapi.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def openapi_document() -> dict[str, object]:
    from functions.api.handler import app

    schema = app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(schema)


def main(argv: list[str]) -> int:
    target = Path(argv[1] if len(argv) > 1 else "docs/openapi.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
