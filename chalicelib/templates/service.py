"""Scan templates: saved scan settings a partner launches against a target."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.access.auth import Tenant
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.pagination import decode_cursor, page_of
from chalicelib.core.store import KeyValueStore
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import Priority, Scan, ScanOptions, ScanType
from chalicelib.scans.service import ScanService
from chalicelib.templates.commands import CreateTemplate, LaunchTemplate


class Template(BaseModel):
    """A stored template."""

    model_config = ConfigDict(extra="forbid")
    template_id: str
    tenant_id: str
    name: str
    description: str = ""
    scan_type: ScanType
    priority: Priority
    options: ScanOptions = Field(default_factory=ScanOptions)
    tags: list[str] = Field(default_factory=list)
    timeout_seconds: int
    created_at: datetime


class TemplateService:
    """CRUD on templates and launching scans from them."""

    def __init__(self, store: KeyValueStore, scans: ScanService) -> None:
        self._store = store
        self._scans = scans

    def create(self, tenant_id: str, command: CreateTemplate) -> Template:
        """Store a new template; raises Unprocessable for registry credentials (a template keeps no secret: they
        are sealed per scan, so they are given at launch)."""
        if command.options.container is not None and command.options.container.registry_auth is not None:
            raise Unprocessable("Templates do not keep registry credentials: give options.container.registry_auth "
                                "when launching the template.", code="registry-auth-not-in-templates",
                                field="options.container.registry_auth")
        template = Template(template_id=new_id("tpl"), tenant_id=tenant_id, created_at=utcnow(),
                            **command.model_dump())
        self._store.put(f"TENANT#{tenant_id}", f"TEMPLATE#{template.template_id}", template.model_dump(mode="json"),
                        expect_version=0)
        return template

    def get(self, tenant_id: str, template_id: str) -> Template:
        """One template of the tenant; raises NotFound."""
        record = self._store.get(f"TENANT#{tenant_id}", f"TEMPLATE#{template_id}")
        if record is None:
            raise NotFound(f"No template {template_id}.", code="template-not-found")
        return Template.model_validate(record.data)

    def list(self, tenant_id: str, *, limit: int = 20, cursor: str | None = None) -> tuple[list[Template], str | None]:
        """Newest first; returns (templates, next cursor or None). Raises BadRequest."""
        after = decode_cursor(cursor, "TEMPLATE#") if cursor else None
        records = self._store.query(f"TENANT#{tenant_id}", "TEMPLATE#", forward=False, after=after, limit=limit + 1)
        page, next_cursor = page_of(records, limit, lambda r: r.sk)
        return [Template.model_validate(r.data) for r in page], next_cursor

    def delete(self, tenant_id: str, template_id: str) -> None:
        """Delete a template; raises NotFound. Scans launched from it are kept."""
        self.get(tenant_id, template_id)
        self._store.delete(f"TENANT#{tenant_id}", f"TEMPLATE#{template_id}")

    def launch(self, tenant: Tenant, template_id: str, command: LaunchTemplate) -> Scan:
        """Start a scan from a template, with the launch's overrides; raises NotFound and create's errors."""
        template = self.get(tenant.tenant_id, template_id)
        overrides = command.model_dump(exclude_none=True, exclude={"target"})
        fields = {
            "name": template.name, "priority": template.priority, "options": template.options,
            "tags": template.tags, "timeout_seconds": template.timeout_seconds, "scan_type": template.scan_type,
        }
        fields.update(overrides)
        scan_command = CreateScan.model_validate({**fields, "target": command.target})
        return self._scans.create(tenant, scan_command, template_id=template_id)
