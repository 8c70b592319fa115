"""Who the caller is and what they may do: users and roles, organisations' vetting life, and
partner API keys (OAuth2 client credentials come with the API slice).

Every function takes the caller's ``Session``, appends its audit event there and leaves the
commit to the caller.
"""

from service.auth.api_keys import (
    ApiPrincipal,
    IssuedApiKey,
    authenticate_api_key,
    create_api_key,
    revoke_api_key,
)
from service.auth.organisations import (
    accept_aup,
    create_organisation,
    suspend_organisation,
    vet_organisation,
)
from service.auth.pepper import load_api_key_pepper
from service.auth.scopes import Scope
from service.auth.users import create_user, grant_role, has_role, require_role

__all__ = [
    "ApiPrincipal", "IssuedApiKey", "Scope", "accept_aup", "authenticate_api_key",
    "create_api_key", "create_organisation", "create_user", "grant_role", "has_role",
    "load_api_key_pepper", "require_role", "revoke_api_key", "suspend_organisation",
    "vet_organisation",
]
