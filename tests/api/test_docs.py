"""`/docs` works on a server without internet access: every asset comes from the server."""

from __future__ import annotations

import re

from tests.api.conftest import Api


def test_docs_load_everything_from_this_server(api: Api) -> None:
    page = api.get("/docs", who=None)
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    assert [u for u in urls if not u.startswith("/")] == []  # no CDN, no other host
    assets = {u for u in urls if u.startswith("/docs-assets/")}
    assert {a.rsplit("/", 1)[1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for url in sorted(assets):
        got = api.get(url, who=None)
        assert got.status_code == 200 and len(got.content) > 500, url
    assert "/openapi.json" in urls
    assert api.get("/openapi.json", who=None).json()["info"]["title"] == "dpo"
