# The ten Lambda functions of contract.ALL_LAMBDAS, one deployment package (make package), one
# least-privilege role each. What each function may touch is listed in local.lambda_statements.

locals {
  table_actions = [
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
    "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
  ]
  bucket_arn         = aws_s3_bucket.reports.arn
  execution_arn_glob = "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}:*"
  ses_identity_glob  = "arn:${local.partition}:ses:${local.region}:${local.account_id}:identity/*"
  scanner_tasks_glob = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${local.cluster_name}/*"

  table_statement = { sid = "ScansTable", actions = local.table_actions, resources = [aws_dynamodb_table.main.arn] }
  enqueue_webhook_event = {
    sid = "EnqueueWebhookEvents", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.webhooks.arn]
  }

  # Per function: what it needs beyond its own log group and the data key (added to every role).
  lambda_statements = {
    api = [
      local.table_statement,
      { sid = "ReadTenantObjects", actions = ["s3:GetObject"], resources = ["${local.bucket_arn}/tenants/*", "${local.bucket_arn}/branding/*"] },
      { sid = "ManageLogos", actions = ["s3:PutObject", "s3:DeleteObject"], resources = ["${local.bucket_arn}/branding/*"] },
      { sid = "StartScans", actions = ["states:StartExecution"], resources = [local.state_machine_arn] },
      { sid = "CancelScans", actions = ["states:StopExecution", "states:DescribeExecution"], resources = [local.execution_arn_glob] },
      # Cancel: find the scan's tasks (chalicelib/aws/ecs.py) and stop them. ListTasks has no
      # resource type of its own; the ecs:cluster condition confines it to the scanner cluster.
      {
        sid       = "ListScannerTasks", actions = ["ecs:ListTasks"], resources = ["*"],
        condition = { test = "ArnEquals", variable = "ecs:cluster", values = [aws_ecs_cluster.scanners.arn] }
      },
      { sid = "StopScannerTasks", actions = ["ecs:DescribeTasks", "ecs:StopTask"], resources = [local.scanner_tasks_glob] },
      local.enqueue_webhook_event,
      # Team invitations (chalicelib/aws/ses.py): only from the configured sender address.
      {
        sid       = "SendTeamInvitations", actions = ["ses:SendEmail"], resources = [local.ses_identity_glob],
        condition = { test = "StringEquals", variable = "ses:FromAddress", values = [var.mail_from] }
      },
    ]
    mark_scanning = [
      local.table_statement,
      local.enqueue_webhook_event,
    ]
    score_scan = [
      local.table_statement,
      { sid = "ReadEvidence", actions = ["s3:GetObject"], resources = ["${local.bucket_arn}/${local.evidence_key_glob}"] },
      local.enqueue_webhook_event,
    ]
    render_report = [
      local.table_statement,
      { sid = "ReadEvidenceAndLogos", actions = ["s3:GetObject"], resources = ["${local.bucket_arn}/tenants/*", "${local.bucket_arn}/branding/*"] },
      { sid = "WriteReports", actions = ["s3:PutObject"], resources = ["${local.bucket_arn}/${local.report_key_glob}"] },
    ]
    finalize_scan = [
      local.table_statement,
      { sid = "ReadScanObjects", actions = ["s3:GetObject"], resources = ["${local.bucket_arn}/tenants/*/scans/*"] },
      local.enqueue_webhook_event,
    ]
    mark_failed = [
      local.table_statement,
      local.enqueue_webhook_event,
    ]
    deliver_webhooks = [
      local.table_statement,
      {
        sid = "ConsumeWebhookEvents"
        actions = [
          "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
          "sqs:SendMessage",
        ]
        resources = [aws_sqs_queue.webhooks.arn]
      },
      { sid = "DeadLetterDeliveries", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.webhooks_dlq.arn] },
    ]
    # The outbox sweeper: reads and updates deliveries and the outbox index, re-queues lost attempts,
    # dead-letters the ones it gives up on.
    sweep_webhook_outbox = [
      local.table_statement,
      local.enqueue_webhook_event,
      { sid = "DeadLetterUndeliverable", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.webhooks_dlq.arn] },
    ]
    # The overdue-scan sweeper: reads the in-flight index and the scans, fails overdue ones, stops
    # their executions and scanner tasks (as cancel does) and publishes their scan.failed.
    sweep_overdue_scans = [
      local.table_statement,
      { sid = "StopOverdueExecutions", actions = ["states:StopExecution"], resources = [local.execution_arn_glob] },
      {
        sid       = "ListScannerTasks", actions = ["ecs:ListTasks"], resources = ["*"],
        condition = { test = "ArnEquals", variable = "ecs:cluster", values = [aws_ecs_cluster.scanners.arn] }
      },
      { sid = "StopScannerTasks", actions = ["ecs:DescribeTasks", "ecs:StopTask"], resources = [local.scanner_tasks_glob] },
      local.enqueue_webhook_event,
    ]
    # Fails the task token of a scanner task that stopped without answering (scanner_events.tf). The
    # EventBridge event carries everything it needs (the token is in the task's overrides): no table,
    # no bucket. SendTaskFailure has no resource-level permissions: "*" is the only valid resource.
    scanner_task_stopped = [
      { sid = "FailStoppedScannerTasks", actions = ["states:SendTaskFailure"], resources = ["*"] },
    ]
    # The intel refresh (intel.tf): reads the current bundle's pointer, writes a new bundle and the pointer.
    refresh_intel = local.intel_lambda_statements
  }
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  for_each           = local.lambdas
  name               = "${local.function_names[each.key]}-lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "lambda" {
  for_each                = local.lambdas
  source_policy_documents = [data.aws_iam_policy_document.kms_use.json]

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this["lambda_${each.key}"].arn}:*"]
  }

  dynamic "statement" {
    for_each = local.lambda_statements[each.key]

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = lookup(statement.value, "condition", null) == null ? [] : [statement.value.condition]

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }

  dynamic "statement" {
    # X-Ray has no resource-level permissions: "*" is the only valid resource.
    for_each = var.xray_tracing ? ["on"] : []

    content {
      sid       = "XRayWrite"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.lambdas
  name     = "least-privilege"
  role     = aws_iam_role.lambda[each.key].id
  policy   = data.aws_iam_policy_document.lambda[each.key].json
}

resource "aws_lambda_function" "fn" {
  #checkov:skip=CKV_AWS_115:Reserved concurrency fails on new accounts (quota 10) and would starve the api; API Gateway throttling and the SQS mapping's maximum_concurrency bound load.
  #checkov:skip=CKV_AWS_116:Synchronous callers (API Gateway, Step Functions Catch, the SQS mapping with its own DLQ); the sweepers sweep_webhook_outbox and sweep_overdue_scans (EventBridge, every minute) have nothing to dead-letter: the next run redoes a failed one. scanner_task_stopped (EventBridge, ECS task stopped) has the scanner's HeartbeatSeconds as its fallback. refresh_intel (EventBridge, daily) leaves the current intel in place when it fails and the next day's run retries.
  #checkov:skip=CKV_AWS_117:The functions reach only AWS APIs and partners' public webhook URLs; a VPC would add NAT traffic and endpoints for no isolation gain.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile; the zip is built and deployed by the same operator pipeline (make package, terraform apply).
  for_each = local.lambdas

  function_name    = local.function_names[each.key]
  description      = "Perimeter ${each.key} (${each.value.handler})"
  role             = aws_iam_role.lambda[each.key].arn
  handler          = each.value.handler
  runtime          = "python3.11"
  architectures    = [var.lambda_architecture]
  timeout          = each.value.timeout
  memory_size      = each.value.memory
  filename         = var.lambda_zip
  source_code_hash = filebase64sha256(var.lambda_zip)
  kms_key_arn      = aws_kms_key.main.arn

  environment {
    variables = local.lambda_env
  }

  tracing_config {
    mode = var.xray_tracing ? "Active" : "PassThrough"
  }

  # The code writes one JSON document per line (chalicelib/core/observability.py, Powertools' formatter) at
  # PERIMETER_LOG_LEVEL = var.log_level; JSON lets CloudWatch filter them by their `level` key as well.
  logging_config {
    log_format            = "JSON"
    application_log_level = var.log_level
    system_log_level      = "WARN"
    log_group             = aws_cloudwatch_log_group.this["lambda_${each.key}"].name
  }

  depends_on = [aws_iam_role_policy.lambda]
}

resource "aws_lambda_permission" "api_gateway" {
  statement_id  = "AllowApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn["api"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.api.execution_arn}/${local.api_stage}/*"
}
