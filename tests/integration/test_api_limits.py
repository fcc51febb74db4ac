"""Limits the API holds against the database: a statement timeout (TIDEWATCH_API_STATEMENT_TIMEOUT_MS)
that ends a slow query and answers 503 in the documented error shape, on the API's and the console's pools."""

from __future__ import annotations

import time

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, Request

from services.api.app import create_app
from services.api.db import Database
from services.config import load_settings

pytestmark = pytest.mark.integration


def server_url() -> str:
    return load_settings().database_url.rsplit("/", 1)[0] + "/postgres"


async def test_statement_timeout_is_a_setting(monkeypatch):
    monkeypatch.setenv("TIDEWATCH_API_STATEMENT_TIMEOUT_MS", "250")
    database = Database(server_url(), load_settings().api_statement_timeout_ms)
    try:
        assert (await database.fetch("SHOW statement_timeout"))[0][0] == "250ms"
        started = time.monotonic()
        with pytest.raises(asyncpg.QueryCanceledError):
            await database.fetch("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 4
    finally:
        await database.close()


async def test_a_query_past_the_timeout_answers_503_in_the_error_shape(monkeypatch):
    monkeypatch.setenv("TIDEWATCH_API_STATEMENT_TIMEOUT_MS", "250")
    slow = APIRouter()

    @slow.get("/slow")
    async def slow_query(request: Request) -> dict:
        await request.app.state.db.fetch("SELECT pg_sleep(5)")
        return {}

    app = create_app(load_settings().with_(database_url=server_url()), extra_routers=[slow])
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            response = await client.get("/slow")
        assert response.status_code == 503
        message = response.json()["error"]["message"]
        assert response.json()["error"]["status"] == 503 and "250 ms" in message
    finally:
        await app.state.db.close()
