"""Webhook delivery core, free of AWS: signing, retry policy, URL guard and the pinned sender.

- `signing`: `new_secret`, `sign` (Standard Webhooks + X-Perimeter-Signature).
- `policy`: the DESIGN.md section 7 schedule, Retry-After, outcome classes, SQS delay steps.
- `url_guard`: `check_webhook_url`, used at registration and again by the sender.
- `sender`: `deliver`, one attempt to a checked, pinned address with a wall-clock deadline.
- `excerpt`: the bounded, text-only excerpt of a receiver's answer that the deliveries log keeps.
- `outbox`: `WebhookOutbox.sweep`, re-queueing deliveries whose queue message was never sent or was lost.
"""
