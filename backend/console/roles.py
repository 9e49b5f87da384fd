"""Console roles: `staff` work the inbox, handoffs, applications and ratings; `admin`
also manage accounts and read the audit log."""

from __future__ import annotations

STAFF = "staff"
ADMIN = "admin"
ROLES: tuple[str, ...] = (STAFF, ADMIN)
ROLE_LABELS = {STAFF: "工作人员", ADMIN: "管理员"}
