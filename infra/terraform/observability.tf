# Logs (every group created here with a retention, KMS-encrypted), the alarm topic, the alarms and
# the dashboard. The code's own metrics (namespace Perimeter, chalicelib/core/observability.py: EMF lines the
# Lambdas write to stdout) carry a `service` dimension = var.prefix and one more dimension set each;
# alarms read the `service` series, the dashboard the breakdowns too.
#
# Alarms: failed scans over a share of the scans that ended (whatever failed them: scanners, pipeline
# steps, the pipeline's start, the overdue sweeper), webhook attempts failing over a share, webhook
# deliveries dead-lettered (the DLQ's depth: it also sees what SQS's redrive policy moves), timed-out
# pipeline executions, webhook consumer errors, API 5xx, NAT instance health.
#
# No per-function error alarm where another alarm already sees the failure (each alarm is
# $0.10/month per metric, docs/cost.md): an error of a pipeline Lambda is retried by the ASL or ends
# in MarkFailed, i.e. in ScansFailed; an api function error (crash, timeout, init failure) reaches
# the client as a 5xx, i.e. in the api-5xx alarm. deliver_webhooks runs outside both, so it has its own.

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
  metrics_namespace = "Perimeter"              # chalicelib/core/observability.py NAMESPACE
  metrics_service   = { service = var.prefix } # PERIMETER_SERVICE_NAME: the dimension every point carries
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

resource "aws_cloudwatch_metric_alarm" "scans_failed" {
  alarm_name          = "${var.prefix}-scans-failed"
  alarm_description   = "More than ${var.scan_failure_alarm_percent}% of the scans that ended failed (ScansFailed against ScansCompleted): see the dashboard's failures by error code."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.scan_failure_alarm_percent
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "failed_percent"
    expression  = "100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(completed, 0))"
    label       = "Scans failed (% of scans ended)"
    return_data = true
  }

  metric_query {
    id = "failed"

    metric {
      namespace   = local.metrics_namespace
      metric_name = "ScansFailed"
      dimensions  = local.metrics_service
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "completed"

    metric {
      namespace   = local.metrics_namespace
      metric_name = "ScansCompleted"
      dimensions  = local.metrics_service
      stat        = "Sum"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "webhook_failures" {
  alarm_name          = "${var.prefix}-webhook-failures"
  alarm_description   = "More than ${var.webhook_failure_alarm_percent}% of at least 20 webhook attempts failed: many partner endpoints are down, or deliveries cannot leave (egress, signing). See the dashboard's failures by kind."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.webhook_failure_alarm_percent
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "failed_percent"
    expression  = "IF(attempts >= 20, 100 * FILL(failures, 0) / attempts, 0)"
    label       = "Webhook attempts failed (%)"
    return_data = true
  }

  metric_query {
    id = "failures"

    metric {
      namespace   = local.metrics_namespace
      metric_name = "WebhookFailures"
      dimensions  = local.metrics_service
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "attempts"

    metric {
      namespace   = local.metrics_namespace
      metric_name = "WebhookAttempts"
      dimensions  = local.metrics_service
      stat        = "Sum"
      period      = 300
    }
  }
}

# A timed-out execution is failed by the overdue sweeper ~20 minutes later (ScansFailed, code timeout);
# this alarm does not wait for it, and still fires if the sweeper itself is broken.
resource "aws_cloudwatch_metric_alarm" "executions_timed_out" {
  alarm_name          = "${local.state_machine_name}-timed-out"
  alarm_description   = "Scan pipeline executions timed out: their scans are failed with code timeout by the overdue sweeper."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsTimedOut"
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

# The main figures on one page: scans (created, completed, failed, failures by code, duration), signal
# errors, webhooks (attempts, deliveries, failures by kind, dead-lettered, DLQ depth), the API.
locals {
  service_search = "service=\"${var.prefix}\""
  dashboard_widgets = [
    {
      title = "Scans (per 5 min)"
      metrics = [
        for name in ["ScansCreated", "ScansCompleted", "ScansFailed"] :
        [local.metrics_namespace, name, "service", var.prefix, { stat = "Sum", period = 300 }]
      ]
    },
    {
      title = "Scans failed, by error code"
      metrics = [[{
        expression = "SEARCH('{${local.metrics_namespace},service,error_code} MetricName=\"ScansFailed\" ${local.service_search}', 'Sum', 300)"
        id         = "by_code"
      }]]
    },
    {
      title = "Scan duration (s), created to complete"
      metrics = [
        for stat in ["p50", "p95", "Maximum"] :
        [local.metrics_namespace, "ScanDuration", "service", var.prefix, { stat = stat, period = 300 }]
      ]
    },
    {
      title = "Signals that could not be checked, by signal"
      metrics = [[{
        expression = "SEARCH('{${local.metrics_namespace},service,signal} MetricName=\"SignalErrors\" ${local.service_search}', 'Sum', 300)"
        id         = "by_signal"
      }]]
    },
    {
      title = "Webhooks (per 5 min)"
      metrics = [
        for name in ["WebhookAttempts", "WebhookDeliveries", "WebhookFailures", "WebhookDeadLettered"] :
        [local.metrics_namespace, name, "service", var.prefix, { stat = "Sum", period = 300 }]
      ]
    },
    {
      title = "Webhook attempts failed, by kind"
      metrics = [[{
        expression = "SEARCH('{${local.metrics_namespace},service,kind} MetricName=\"WebhookFailures\" ${local.service_search}', 'Sum', 300)"
        id         = "by_kind"
      }]]
    },
    {
      title = "Webhook dead-letter queue depth"
      metrics = [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.webhooks_dlq.name, { stat = "Maximum", period = 300 }],
      ]
    },
    {
      title = "API requests and errors (per 5 min)"
      metrics = [
        for name in ["Count", "4XXError", "5XXError"] :
        ["AWS/ApiGateway", name, "ApiName", aws_api_gateway_rest_api.api.name, "Stage", local.api_stage, { stat = "Sum", period = 300 }]
      ]
    },
  ]
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = var.prefix
  dashboard_body = jsonencode({
    widgets = [
      for i, widget in local.dashboard_widgets : {
        type   = "metric"
        x      = (i % 3) * 8
        y      = floor(i / 3) * 6
        width  = 8
        height = 6
        properties = {
          title   = widget.title
          metrics = widget.metrics
          region  = local.region
          view    = "timeSeries"
          stacked = false
        }
      }
    ]
  })
}
