"""Alerts: rules decide which meetings go to which subscribers; channels deliver them.

    rules.py     load_rules(path) -> [Rule]; matches / decide / should_alert (pure); plan_deliveries: the
                 destinations of one outbox row; channel_key / find_channel
    signing.py   Standard Webhooks signatures (webhook-id / -timestamp / -signature)
    verify.py    Verifier for receivers (standard library only; consumers may copy the file)
    delivery.py  deliver_webhook (one signed POST); pure retry decisions next_step / next_attempt_delay
    channels.py  render(record) -> subject + body; send_email (SMTP), send_apprise; deliver(channel, ...)

No database code here. The store owns the rows and calls in two places:

1. In the transaction that writes an outbox row: ``plan_deliveries(rules, record, alerted_names, change)``
   gives one ``PlannedDelivery`` per destination; store a delivery row per ``(outbox_id, key)`` (unique) with
   its rule names and kind, and mark every rule in it as alerted for the meeting (unique (meeting, rule)).
2. The relay (periodic, ``FOR UPDATE SKIP LOCKED`` on due rows): ``find_channel(rules, key, rule_names)``
   (None: destination removed, drop the row), ``channels.deliver(channel, outbox_id=..., ...)``, then
   ``next_step(result, attempts)``: sent / retry at ``next_attempt_at(now, attempts, result.retry_after_s)``
   / dead letter / disable the webhook URL (410). Retries span days: keep them on the row, never as Celery
   countdowns beyond the visibility timeout.
"""
