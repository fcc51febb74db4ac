"""One JSON POST of one try, shared by every HTTP sender: classify the answer, hide the secrets.

HTTP 2xx is success; 408/425/429 and 5xx are worth another try; any other status means the receiver
refused the request itself (`permanent`). Chat robots answer 200 with an error code in the body, which
their sender checks through `check`. Error text is recorded and logged, so every credential of the
endpoint (URL, token, key, secret) is replaced by `***` before it leaves here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import aiohttp
import orjson
import yarl

from services.notify.errors import RETRY_STATUSES, SendError


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


class JsonPoster:
    """An aiohttp session opened on first use; `post` raises `SendError` with redacted text.
    `document` is JSON-encoded unless it is bytes already (a sender that signs the exact body)."""

    def __init__(self, timeout_s: float, secrets: tuple[str, ...] = ()) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.secrets = secrets
        self._session: aiohttp.ClientSession | None = None

    async def post(
        self,
        url: str | yarl.URL,
        document: object,
        headers: Mapping[str, str] | None = None,
        *,
        auth: aiohttp.BasicAuth | None = None,
        check: Callable[[bytes], None] | None = None,
    ) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        data = document if isinstance(document, bytes) else orjson.dumps(document)
        all_headers = {"Content-Type": "application/json", "User-Agent": "tidewatch-notify"}
        try:
            async with self._session.post(
                url, data=data, headers=all_headers | dict(headers or {}), auth=auth
            ) as response:
                body = await response.read()
                if response.status >= 300:
                    text = body[:200].decode(errors="replace")
                    permanent = response.status < 500 and response.status not in RETRY_STATUSES
                    raise SendError(f"HTTP {response.status}: {text}", permanent=permanent)
                if check is not None:
                    check(body)
        except SendError as exc:
            raise SendError(redact(str(exc), self.secrets), permanent=exc.permanent) from None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SendError(redact(f"{type(exc).__name__}: {exc}", self.secrets)) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
