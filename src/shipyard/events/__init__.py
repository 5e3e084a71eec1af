"""What changed, who changed it, and who gets told: the audit log and its webhooks."""

from shipyard.events.audit import AuditEvent, AuditLog
from shipyard.events.webhooks import Webhook, WebhookService

__all__ = ["AuditEvent", "AuditLog", "Webhook", "WebhookService"]
