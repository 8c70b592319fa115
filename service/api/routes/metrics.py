"""``GET /metrics``: the API process's Prometheus metrics (see ``service.metrics``).

Open by default, for a scraper on the deployment's private network; with
``LIKENESS_METRICS_TOKEN`` set it wants ``Authorization: Bearer <token>`` (compared in
constant time), for deployments where the API port is the only one.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from service.api.deps import ServicesDep
from service.errors import CredentialsMissing
from service.metrics import CONTENT_TYPE, ApiMetrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, services: ServicesDep,
            authorization: Annotated[str | None, Header()] = None) -> Response:
    token = services.settings.metrics_token
    if token is not None:
        expected = f"Bearer {token.get_secret_value()}".encode()
        if not hmac.compare_digest((authorization or "").encode(), expected):
            raise CredentialsMissing("GET /metrics needs the metrics bearer token")
    registry: ApiMetrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)
