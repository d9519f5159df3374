# The scan pipeline: Step Functions Standard (the only type with .waitForTaskToken), deployed from the
# repository's ASL file, the same file the embedded stack executes. templatefile() fills exactly the
# placeholders of contract.ASL_PLACEHOLDERS (local.asl_vars); a placeholder the file uses but
# Terraform does not pass fails the plan, and tests/infra checks both directions.

resource "aws_sfn_state_machine" "pipeline" {
  #checkov:skip=CKV_AWS_285:Execution data holds targets, results and task tokens; Step Functions keeps full history 90 days, logs keep every event without payloads.
  #checkov:skip=CKV_AWS_284:X-Ray is opt-in (var.xray_tracing): billed per trace and not needed to operate the pipeline.
  name       = local.state_machine_name
  role_arn   = aws_iam_role.state_machine.arn
  type       = "STANDARD"
  definition = templatefile(local.asl_path, local.asl_vars)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this["state_machine"].arn}:*"
    include_execution_data = false
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = var.xray_tracing
  }

  depends_on = [aws_iam_role_policy.state_machine]
}

data "aws_iam_policy_document" "state_machine_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  name               = "${local.state_machine_name}-sfn"
  assume_role_policy = data.aws_iam_policy_document.state_machine_assume.json
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid     = "InvokePipelineLambdas"
    actions = ["lambda:InvokeFunction"]
    resources = flatten([
      for k, _ in local.pipeline_lambdas : [aws_lambda_function.fn[k].arn, "${aws_lambda_function.fn[k].arn}:*"]
    ])
  }

  statement {
    sid       = "RunScannerTasks"
    actions   = ["ecs:RunTask"]
    resources = ["${aws_ecs_task_definition.scanner.arn_without_revision}:*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.scanners.arn]
    }
  }

  statement {
    sid       = "StopAndWatchScannerTasks"
    actions   = ["ecs:StopTask", "ecs:DescribeTasks"]
    resources = [local.scanner_tasks_glob]
  }

  statement {
    sid       = "PassScannerRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.scanner_task.arn, aws_iam_role.scanner_execution.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  # Only used if the ASL runs a task with ".sync": Step Functions then manages this one rule.
  statement {
    sid       = "EcsSyncManagedRule"
    actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    resources = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/StepFunctionsGetEventsForECSTaskRule"]
  }

  # CloudWatch Logs delivery for state machines has no resource-level permissions: "*" is required.
  statement {
    sid = "LogDelivery"
    actions = [
      "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  dynamic "statement" {
    # X-Ray has no resource-level permissions: "*" is the only valid resource.
    for_each = var.xray_tracing ? ["on"] : []

    content {
      sid       = "XRayWrite"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "least-privilege"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}
