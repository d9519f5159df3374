# Scheduled sweepers, one per entry of local.schedules (contract.SCHEDULES), each every minute:
# - sweep_webhook_outbox (chalicelib/webhooks/outbox.py) re-queues the webhook deliveries whose SQS
#   message was never sent or was lost;
# - sweep_overdue_scans (ScanService.expire_overdue) fails with code `timeout` every scan still in
#   flight OVERDUE_GRACE_SECONDS (about 20 min) after created_at + timeout_seconds, whose execution
#   ended without MarkFailed (state machine timeout, MarkFailed out of retries, an operator's
#   StopExecution, a vanished execution).
# A failed run is not retried: the next one, a minute later, does the same work (conditional writes
# make overlapping runs safe).
resource "aws_cloudwatch_event_rule" "sweeper" {
  for_each            = local.schedules
  name                = "${var.prefix}-${replace(each.key, "_", "-")}"
  description         = "Perimeter sweeper ${each.key}."
  schedule_expression = each.value
}

resource "aws_cloudwatch_event_target" "sweeper" {
  for_each = local.schedules
  rule     = aws_cloudwatch_event_rule.sweeper[each.key].name
  arn      = aws_lambda_function.fn[each.key].arn

  retry_policy {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 60
  }
}

resource "aws_lambda_permission" "sweeper" {
  for_each      = local.schedules
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn[each.key].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweeper[each.key].arn
}

# Async invocations of a sweeper are not retried either (the schedule is the retry).
resource "aws_lambda_function_event_invoke_config" "sweeper" {
  for_each                     = local.schedules
  function_name                = aws_lambda_function.fn[each.key].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}
