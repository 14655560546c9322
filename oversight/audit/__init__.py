"""Does a multiple-choice task set need the protocol? Shortcut judges that never see the passage's reasoning
must not beat chance on it."""

from oversight.audit.report import AuditReport, ShortcutResult, audit_task, print_audit

__all__ = ["AuditReport", "ShortcutResult", "audit_task", "print_audit"]
