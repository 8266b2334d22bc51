"""The roles the memorizer tags its units with. The record itself lives beside the model (`ir.roles`),
because the model file carries it; construction code imports it from here."""

from __future__ import annotations

from ..ir.roles import ROLES, STAGE, RoleRecord, UnitRole

__all__ = ["ROLES", "STAGE", "RoleRecord", "UnitRole"]
