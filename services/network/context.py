"""The caller of a manager operation: project, admin flag, service flag."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Ctx:
    project_id: str | None
    is_admin: bool = False
    is_service: bool = False
    user_id: str | None = None

    @classmethod
    def admin(cls) -> "Ctx":
        return cls(project_id=None, is_admin=True)

    def owns(self, project_id) -> bool:
        return self.is_admin or (self.project_id is not None and self.project_id == project_id)
