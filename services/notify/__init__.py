"""Alert notifications: webhook and e-mail senders with retries and a dead letter, each alert event
sent at most once per channel (claimed in the database first), and alert events on MQTT."""

from services.notify.config import NotifyConfig, RetryPolicy
from services.notify.mqtt import alert_topic, publish_alert_events
from services.notify.notifier import DeliveryReport, Notifier

__all__ = [
    "DeliveryReport",
    "Notifier",
    "NotifyConfig",
    "RetryPolicy",
    "alert_topic",
    "publish_alert_events",
]
