"""``POST /v1/assets`` (upload a portrait or speech audio) and ``GET /v1/assets/{id}``.

The upload is validated in full before anything is stored (see ``service.domain.uploads``);
a portrait for a subject must also be that person. Only the owning organisation, in the same
environment (test/live), can see an asset; anyone else gets 404.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile, status

from service.api.deps import (
    PartnerDep,
    ServicesDep,
    SessionDep,
    audit_context,
    owner_of,
    require_scopes,
)
from service.api.schemas import AssetPublic
from service.auth.api_keys import ApiPrincipal
from service.auth.scopes import Scope
from service.domain.assets import get_asset, store_asset
from service.domain.uploads import validate_audio, validate_portrait
from service.errors import UploadTooLarge

router = APIRouter(prefix="/v1/assets", tags=["assets"])


class UploadKind(enum.StrEnum):
    PORTRAIT = "portrait"
    AUDIO = "audio"


def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """At most ``max_bytes`` of the part; more is ``UploadTooLarge`` without reading it all."""
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadTooLarge(f"the file is larger than {max_bytes} bytes", max_bytes=max_bytes)
    return data


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AssetPublic)
def upload_asset(
    request: Request, session: SessionDep, services: ServicesDep,
    partner: Annotated[ApiPrincipal, Depends(require_scopes(Scope.ASSETS_WRITE))],
    kind: Annotated[UploadKind, Form()], file: Annotated[UploadFile, File()],
    subject_id: Annotated[uuid.UUID | None, Form()] = None,
) -> AssetPublic:
    limits = services.limits
    if kind == UploadKind.PORTRAIT:
        upload = validate_portrait(read_upload(file, limits.portrait_bytes), limits)
    else:
        upload = validate_audio(read_upload(file, limits.audio_bytes), limits)
    asset = store_asset(session, audit_context(request, partner), services.store,
                        owner=owner_of(partner), upload=upload, box=services.face_box,
                        subject_id=subject_id,
                        face_threshold=services.settings.face_match_threshold)
    return AssetPublic.of(asset)


@router.get("/{asset_id}", response_model=AssetPublic)
def read_asset(asset_id: uuid.UUID, session: SessionDep, partner: PartnerDep) -> AssetPublic:
    return AssetPublic.of(get_asset(session, owner_of(partner), asset_id))
