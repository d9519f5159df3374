# The overdue-scan sweeper (ScanService.expire_overdue): every minute, sweep_overdue_scans fails with
# code `timeout` every scan still in flight OVERDUE_GRACE_SECONDS (about 20 min) after created_at +
# timeout_seconds, whose execution ended without MarkFailed (state machine timeout, MarkFailed out
# of retries, an operator's StopExecution, a vanished execution). A failed run is not retried: the
# next one, a minute later, does the same work (conditional transitions make overlapping runs safe).
resource "aws_cloudwatch_event_rule" "overdue_scans" {
  name                = "${var.prefix}-overdue-scan-sweep"
  description         = "End scans whose pipeline execution stopped answering (Perimeter overdue-scan sweeper)."
  schedule_expression = local.overdue_scan_rate
}

resource "aws_cloudwatch_event_target" "overdue_scans" {
  rule = aws_cloudwatch_event_rule.overdue_scans.name
  arn  = aws_lambda_function.fn[local.overdue_scan_sweeper].arn

  retry_policy {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 60
  }
}

resource "aws_lambda_permission" "overdue_scans" {
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn[local.overdue_scan_sweeper].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.overdue_scans.arn
}

# Async invocations of the sweeper are not retried either (the schedule is the retry).
resource "aws_lambda_function_event_invoke_config" "overdue_scans" {
  function_name                = aws_lambda_function.fn[local.overdue_scan_sweeper].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}
