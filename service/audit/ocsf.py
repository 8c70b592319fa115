"""Audit events as OCSF API Activity (class 6003) objects, for SIEMs and compliance tooling.

One event -> one OCSF 1.3 object. The mapping (also in docs/audit.md):

- ``activity_id`` from the tag's verb: create / read / update / delete (``ACTIVITY_BY_VERB``),
  99 Other otherwise; ``type_uid = 600300 + activity_id``;
- ``status_id``: success -> 1 Success; denied and failure -> 2 Failure, with ``status_code``
  the outcome and ``status_detail`` the payload's reason or error code;
- ``severity_id``: success 1 Informational, failure 2 Low, denied 3 Medium (a refused credential
  or consent is what an analyst looks for);
- ``actor.user``: ``uid`` the actor string, ``type``/``type_id`` from its kind (partner API key,
  staff user, system, anonymous), ``credential_uid`` the API key id, ``org.uid`` the partner;
- ``api.operation`` the action tag, ``api.request.uid`` the request id, ``api.service.name``
  ``likeness``; ``resources`` the resource plus the organisation, subject and job it concerns;
- ``src_endpoint.ip`` the client address (``name: internal`` for workers and the CLI);
  ``time`` milliseconds since the epoch;
- ``metadata``: product ``likeness`` and its version, ``uid`` the event's sequence number,
  ``correlation_uid`` the request id, ``log_name`` ``audit``;
- ``unmapped``: the payload (personal fields opened or ``[erased]``), ``hash`` and
  ``prev_hash``, so nothing of the event is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from policy.audit import Outcome
from service.audit.query import AuditRecord

OCSF_VERSION = "1.3.0"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CLASS_UID, CATEGORY_UID = 6003, 6
UNKNOWN, CREATE, READ, UPDATE, DELETE, OTHER = 0, 1, 2, 3, 4, 99
ACTIVITY_NAMES = {CREATE: "Create", READ: "Read", UPDATE: "Update", DELETE: "Delete",
                  OTHER: "Other", UNKNOWN: "Unknown"}
ACTIVITY_BY_VERB = {
    **dict.fromkeys(("create", "register", "request", "submit", "issue", "grant", "upload",
                     "file", "sign", "init", "capture", "capture_start", "evidence",
                     "grant_nonliving"), CREATE),
    **dict.fromkeys(("read", "download", "verify", "disclose", "export", "query",
                     "authenticate", "authorize", "use", "test", "gate", "listen", "check",
                     "transcript"), READ),
    **dict.fromkeys(("approve", "reject", "revoke", "vet", "suspend", "accept_aup", "start",
                     "succeed", "fail", "requeue", "cancel", "resolve", "update",
                     "flag_revoked"), UPDATE),
    **dict.fromkeys(("delete", "purge", "erase", "prune", "delete_templates"), DELETE),
}
STATUS = {Outcome.SUCCESS: (1, "Success"), Outcome.DENIED: (2, "Failure"),
          Outcome.FAILURE: (2, "Failure")}
SEVERITY = {Outcome.SUCCESS: (1, "Informational"), Outcome.FAILURE: (2, "Low"),
            Outcome.DENIED: (3, "Medium")}
# actor kind -> (OCSF user type_id, type)
USER_TYPES = {"api_key": (99, "Partner"), "user": (1, "User"), "system": (3, "System"),
              "cli": (1, "Operator"), "anonymous": (0, "Unknown")}


def product_version() -> str:
    try:
        return version("likeness")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0+unknown"


def to_ocsf(record: AuditRecord, product: str) -> dict[str, Any]:
    """The OCSF API Activity object for ``record`` (``product``: ``product_version()``)."""
    activity = ACTIVITY_BY_VERB.get(record.action.rsplit(":", 1)[-1], OTHER)
    status_id, status = STATUS[record.outcome]
    severity_id, severity = SEVERITY[record.outcome]
    event: dict[str, Any] = {
        "class_uid": CLASS_UID, "class_name": "API Activity",
        "category_uid": CATEGORY_UID, "category_name": "Application Activity",
        "activity_id": activity, "activity_name": ACTIVITY_NAMES[activity],
        "type_uid": CLASS_UID * 100 + activity,
        "type_name": f"API Activity: {ACTIVITY_NAMES[activity]}",
        "time": (record.occurred_at - EPOCH) // timedelta(milliseconds=1),
        "severity_id": severity_id, "severity": severity,
        "status_id": status_id, "status": status, "status_code": record.outcome.value,
        "actor": _actor(record),
        "api": {"operation": record.action, "service": {"name": "likeness"},
                "request": {"uid": record.request_id}},
        "resources": _resources(record),
        # Required by the class: the caller's address, or "internal" for the service's own
        # components (workers, the operator CLI), which act from no network address.
        "src_endpoint": ({"ip": record.client_address} if record.client_address is not None
                         else {"name": "internal"}),
        "metadata": {"version": OCSF_VERSION, "uid": str(record.seq), "log_name": "audit",
                     "correlation_uid": record.request_id,
                     "product": {"name": "likeness", "vendor_name": "likeness",
                                 "version": product}},
        "unmapped": {"payload": record.payload, "hash": record.hash,
                     "prev_hash": record.prev_hash},
    }
    detail = _status_detail(record.payload)
    if detail is not None:
        event["status_detail"] = detail
    return event


def _actor(record: AuditRecord) -> dict[str, Any]:
    kind, _, ident = record.actor.partition(":")
    type_id, type_name = USER_TYPES.get(kind, (99, "Other"))
    user: dict[str, Any] = {"uid": record.actor, "type_id": type_id, "type": type_name}
    if kind == "api_key":
        user["credential_uid"] = ident
    if record.refs.organisation_id is not None and kind == "api_key":
        user["org"] = {"uid": str(record.refs.organisation_id)}
    return {"user": user, "app_name": "likeness"}


def _resources(record: AuditRecord) -> list[dict[str, str]]:
    kind, _, ident = record.resource.partition(":")
    resources = [{"uid": ident or record.resource, "type": kind}]
    for name, value in (("organisation", record.refs.organisation_id),
                        ("subject", record.refs.subject_id), ("job", record.refs.job_id)):
        if value is not None and not (kind == name and ident == str(value)):
            resources.append({"uid": str(value), "type": name})
    return resources


def _status_detail(payload: dict[str, Any]) -> str | None:
    for name in ("reason", "error_code", "code"):
        if isinstance(payload.get(name), str):
            return payload[name]
    return None
