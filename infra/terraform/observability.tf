# Logs (every group created here with a retention, KMS-encrypted), the alarm topic and the alarms:
# webhook deliveries dead-lettered, failed or timed-out pipeline executions, webhook consumer
# errors, API 5xx, NAT instance health.
#
# No per-function error alarm where another alarm already sees the failure (each alarm is
# $0.10/month, docs/cost.md): an error of a pipeline Lambda is retried by the ASL or ends in
# MarkFailed -> ScanFailed, i.e. in ExecutionsFailed; an api function error (crash, timeout, init
# failure) reaches the client as a 5xx, i.e. in the api-5xx alarm. deliver_webhooks runs outside
# both, so it has its own.

locals {
  log_groups = merge(
    { for k, name in local.function_names : "lambda_${k}" => "/aws/lambda/${name}" },
    {
      api_access    = "/aws/apigateway/${var.prefix}-api/access"
      api_execution = "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.api.id}/${local.api_stage}"
      state_machine = "/aws/vendedlogs/states/${local.state_machine_name}"
      scanner       = "/ecs/${var.prefix}-scanner"
      flow_logs     = "/aws/vpc/${var.prefix}-scanners/flow-logs"
    },
  )
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (30 by default): operational logs, not an audit trail; a year would multiply storage cost for no use.
  for_each          = local.log_groups
  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.prefix}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "webhook_dlq_depth" {
  alarm_name          = "${var.prefix}-webhook-dlq-not-empty"
  alarm_description   = "Webhook deliveries exhausted their retries and were dead-lettered: inspect and redeliver."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.webhooks_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "executions_failed" {
  for_each = {
    failed    = "ExecutionsFailed"
    timed_out = "ExecutionsTimedOut"
  }
  alarm_name          = "${local.state_machine_name}-${replace(each.key, "_", "-")}"
  alarm_description   = "Scan pipeline executions ${replace(each.key, "_", " ")}: scans were marked failed."
  namespace           = "AWS/States"
  metric_name         = each.value
  dimensions          = { StateMachineArn = aws_sfn_state_machine.pipeline.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "webhook_consumer_errors" {
  alarm_name          = "${local.function_names[local.webhook_consumer]}-errors"
  alarm_description   = "deliver_webhooks failed whole batches (every record failed, or a crash): deliveries are delayed."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.fn[local.webhook_consumer].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${var.prefix}-api-5xx"
  alarm_description   = "The API answered 5xx (gateway or function errors)."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5XXError"
  dimensions          = { ApiName = aws_api_gateway_rest_api.api.name, Stage = local.api_stage }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "nat_status" {
  count               = local.nat_instance ? 1 : 0
  alarm_name          = "${var.prefix}-nat-status-check"
  alarm_description   = "The NAT instance fails its status checks: scanner tasks have no egress."
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed"
  dimensions          = { InstanceId = aws_instance.nat[0].id }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
