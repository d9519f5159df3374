# A scanner task that stops without answering its task token fails its scan at once instead of after
# HeartbeatSeconds (chalicelib/pipeline/task_events.py). Every STOPPED event of the scanner cluster's
# pipeline tasks (ECS task group `scan:<scan id>`, set by the ASL's RunTask) goes to the
# scanner_task_stopped Lambda, which reads TASK_TOKEN from the event's container overrides and fails
# it with Scanner.Crashed (Scanner.Transient for a Fargate Spot interruption) unless the scanner
# container exited 0. A token already answered is refused by Step Functions and ignored.
resource "aws_cloudwatch_event_rule" "scanner_task_stopped" {
  name        = "${var.prefix}-scanner-task-stopped"
  description = "Perimeter: a scanner task of the pipeline stopped (fails its task token unless it answered)."
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [aws_ecs_cluster.scanners.arn]
      lastStatus = ["STOPPED"]
      group      = [{ prefix = "scan:" }]
    }
  })
}

resource "aws_cloudwatch_event_target" "scanner_task_stopped" {
  rule = aws_cloudwatch_event_rule.scanner_task_stopped.name
  arn  = aws_lambda_function.fn["scanner_task_stopped"].arn

  # Past a couple of minutes the state's heartbeat has already failed the scan.
  retry_policy {
    maximum_retry_attempts       = 3
    maximum_event_age_in_seconds = 120
  }
}

resource "aws_lambda_permission" "scanner_task_stopped" {
  statement_id  = "AllowEventBridgeScannerTaskStopped"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn["scanner_task_stopped"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.scanner_task_stopped.arn
}

resource "aws_lambda_function_event_invoke_config" "scanner_task_stopped" {
  function_name                = aws_lambda_function.fn["scanner_task_stopped"].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 120
}
