"""The OpenAPI document is generated from the handlers, served locally and kept in docs/."""

from __future__ import annotations

import json
from pathlib import Path

from climatrak_local.openapi import openapi_document
from tests.integration.conftest import ApiClient, LambdaContextStub

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_document_describes_every_route_with_its_models(api: ApiClient) -> None:
    document = openapi_document()
    paths = document["paths"]
    assert isinstance(paths, dict)
    for path in ("/sites", "/assets/complete", "/devices/{device_id}/summary", "/telemetry/assets/{asset_tag}/history"):
        assert path in paths
    schemas = document["components"]["schemas"]  # type: ignore[index]
    assert {"AssetCreate", "DeviceCreate", "SiteCreate"} <= set(schemas)


def test_the_api_serves_the_document_and_swagger_ui(api: ApiClient) -> None:
    status, served = api.get("/api/openapi.json/")
    assert status == 200 and served["info"]["title"] == "ClimaTrak Cloud API"
    from functions.api.handler import handler

    response = handler(api.event("GET", "/api/docs"), LambdaContextStub())  # type: ignore[arg-type]
    assert response["statusCode"] == 200
    assert "swagger" in response["body"].lower()


def test_docs_openapi_json_is_up_to_date() -> None:
    committed = json.loads(DOCS.read_text())
    assert committed == json.loads(json.dumps(openapi_document())), "run `make openapi`"
