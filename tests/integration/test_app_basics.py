"""The app's shared behaviour: health, OpenAPI, security headers, problem details, languages."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

SECURITY_HEADERS = ("content-security-policy", "x-frame-options", "referrer-policy", "x-content-type-options")


def test_live_answers_ok(client: TestClient[Litestar]) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_names_every_check(client: TestClient[Litestar]) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["broker"] == "ok"


def test_openapi_is_3_1_and_has_the_interactive_page(client: TestClient[Litestar]) -> None:
    spec = client.get("/schema/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/health/ready" in spec["paths"]
    page = client.get("/schema")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    # The page's script comes from our own files, so the CSP needs no inline script.
    assert "<script>" not in page.text


def test_every_response_has_security_headers_and_a_request_id(client: TestClient[Litestar]) -> None:
    for path in ("/", "/health/live", "/no-such-page", "/schema/openapi.json"):
        response = client.get(path)
        for header in SECURITY_HEADERS:
            assert header in response.headers, (path, header)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert len(response.headers["x-request-id"]) >= 8


def test_a_given_request_id_is_kept(client: TestClient[Litestar]) -> None:
    response = client.get("/health/live", headers={"X-Request-Id": "till-42-abcdef"})
    assert response.headers["x-request-id"] == "till-42-abcdef"


def test_unknown_api_path_is_a_problem_document(client: TestClient[Litestar]) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert body["request_id"] == response.headers["x-request-id"]


def test_unknown_page_is_a_page_in_german_by_default(client: TestClient[Litestar]) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="de"' in response.text


def test_language_follows_accept_language_then_the_remembered_choice(client: TestClient[Litestar]) -> None:
    assert '<html lang="en"' in client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    chosen = client.get("/?lang=de", headers={"Accept-Language": "en"})
    assert '<html lang="de"' in chosen.text
    assert "fk_lang=de" in chosen.headers["set-cookie"]
    # The choice is remembered over the browser's preference.
    assert '<html lang="de"' in client.get("/", headers={"Accept-Language": "en"}).text


def test_options_on_a_public_route_lists_the_methods(client: TestClient[Litestar]) -> None:
    response = client.options("/health/live")
    assert response.status_code == 204
    assert "GET" in response.headers["allow"]


def test_static_files_are_revalidated_not_kept_blindly(client: TestClient[Litestar]) -> None:
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["etag"]


def test_card_service_worker_is_served_from_the_root_for_the_card_scope(client: TestClient[Litestar]) -> None:
    response = client.get("/card-sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "content-disposition" not in response.headers or "inline" in response.headers["content-disposition"]


def test_the_qr_library_from_npm_is_served(client: TestClient[Litestar]) -> None:
    response = client.get("/static/vendor/qrcode-generator/qrcode.mjs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
