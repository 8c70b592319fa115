"""What an API key may do. A key carries a set of scopes; each operation names the one it needs."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from service.errors import RequestInvalid


class Scope(enum.StrEnum):
    ASSETS_WRITE = "assets:write"  # upload portraits and audio
    SUBJECTS_WRITE = "subjects:write"  # register subjects
    CONSENTS_REQUEST = "consents:request"  # submit consent evidence for review
    JOBS_CREATE = "jobs:create"
    JOBS_READ = "jobs:read"
    WEBHOOKS_MANAGE = "webhooks:manage"


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Known scopes only; an unknown one is a ``RequestInvalid`` naming it."""
    known = {scope.value for scope in Scope}
    values = list(values)
    unknown = sorted(set(values) - known)
    if unknown:
        raise RequestInvalid(f"unknown API-key scope(s): {', '.join(unknown)}", field="scopes",
                             unknown=unknown, known=sorted(known))
    return frozenset(Scope(value) for value in values)
