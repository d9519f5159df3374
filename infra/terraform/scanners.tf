# Scanner tasks: the scanner-container image in ECR, run on Fargate by the state machine (one task per
# signal group of contract.SIGNAL_GROUPS). The container answers its task token itself
# (states:SendTask*), writes evidence to S3 and talks to the internet through the NAT only.

resource "aws_ecr_repository" "scanner" {
  name                 = "${var.prefix}-scanner"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = !var.deletion_protection

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "scanner" {
  repository = aws_ecr_repository.scanner.name

  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 10 most recent images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 10 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "scanners" {
  #checkov:skip=CKV_AWS_65:Container Insights is opt-in (var.container_insights): billed as custom metrics; each scan's outcome is already in Step Functions and the task logs.
  name = local.cluster_name

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
}

# The ASL's RunTask names var.scanner_capacity_provider in its CapacityProviderStrategy (templatefile
# placeholder scanner_capacity_provider); the cluster default says the same for anything else. ECS does
# not fall back from FARGATE_SPOT to FARGATE by itself (a strategy with both splits tasks by base and
# weight): a Spot interruption is a SIGTERM with 2 minutes' notice, which the scanner answers with
# Scanner.Transient, and the ASL retries the branch.
resource "aws_ecs_cluster_capacity_providers" "scanners" {
  cluster_name       = aws_ecs_cluster.scanners.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = var.scanner_capacity_provider
    weight            = 1
  }
}

# --- Roles ----------------------------------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# What the code in the container may do: write its evidence, answer its task token.
resource "aws_iam_role" "scanner_task" {
  name               = "${var.prefix}-scanner-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "scanner_task" {
  statement {
    sid       = "WriteEvidence"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.reports.arn}/${local.evidence_key_glob}"]
  }

  # The newest refreshed intel bundle (intel.tf, chalicelib/scanners/intel/store.py).
  statement {
    sid       = "ReadIntel"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.reports.arn}/${local.intel_prefix}/*"]
  }

  statement {
    sid       = "FindIntel"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.reports.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.intel_prefix}/*"]
    }
  }

  statement {
    sid       = "EncryptEvidence"
    actions   = ["kms:GenerateDataKey", "kms:Encrypt", "kms:DescribeKey"]
    resources = [aws_kms_key.main.arn]
  }

  # Container scans of the account's own ECR images (chalicelib/aws/ecr.py): GetAuthorizationToken has no
  # resource-level permission ("*" is its only valid resource); the pulls are limited to this account's
  # repositories (another account's need its repository policy and a registry secret instead).
  statement {
    sid       = "EcrTokenForScannedImages"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullScannedImages"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = ["arn:${local.partition}:ecr:*:${local.account_id}:repository/*"]
  }

  # SendTaskSuccess/SendTaskFailure/SendTaskHeartbeat support no resource-level permissions (the
  # service authorization reference lists no resource type for them): "*" is the only valid
  # resource. The task token itself is the capability; only this role holds the permission.
  statement {
    sid       = "SendTaskResults"
    actions   = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "scanner_task" {
  name   = "least-privilege"
  role   = aws_iam_role.scanner_task.id
  policy = data.aws_iam_policy_document.scanner_task.json
}

# What ECS itself needs to start the task: pull the image, ship logs, read the breach API key.
resource "aws_iam_role" "scanner_execution" {
  name               = "${var.prefix}-scanner-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "scanner_execution" {
  # GetAuthorizationToken is account-wide (no resource-level permissions): "*" is required.
  statement {
    sid       = "EcrAuthorizationToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullScannerImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.scanner.arn]
  }

  statement {
    sid       = "ShipLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this["scanner"].arn}:*"]
  }

  statement {
    sid       = "DecryptImageAndSecrets"
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = [aws_kms_key.main.arn]
  }

  dynamic "statement" {
    for_each = local.scanner_secrets

    content {
      sid       = "Read${replace(title(lower(replace(statement.key, "_", " "))), " ", "")}"
      actions   = ["ssm:GetParameters"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "scanner_execution" {
  name   = "least-privilege"
  role   = aws_iam_role.scanner_execution.id
  policy = data.aws_iam_policy_document.scanner_execution.json
}

# --- Task definition ------------------------------------------------------------------------------

resource "aws_ecs_task_definition" "scanner" {
  family                   = "${var.prefix}-scanner"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.scanner_size.cpu)
  memory                   = tostring(var.scanner_size.memory)
  task_role_arn            = aws_iam_role.scanner_task.arn
  execution_role_arn       = aws_iam_role.scanner_execution.arn

  # ARM64 by default (Graviton, ~20% cheaper): the image must be built for linux/arm64 (docs/deploy.md).
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.scanner_cpu_architecture
  }

  # The root filesystem is read-only; /tmp is a task-storage volume (Fargate has no tmpfs).
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = local.scanner_container
    image                  = "${aws_ecr_repository.scanner.repository_url}:${var.scanner_image_tag}"
    essential              = true
    readonlyRootFilesystem = true
    privileged             = false
    # contract.SCANNER_STATIC_ENV; the per-task part (TASK_TOKEN, SCAN_ID, ...) comes from the ASL's
    # container overrides.
    environment = [
      for k, v in local.scanner_settings : { name = k, value = v } if v != ""
    ]
    secrets = [
      for k, arn in local.scanner_secrets : { name = k, valueFrom = arn }
    ]
    mountPoints = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    linuxParameters = {
      initProcessEnabled = true
      # nmap runs -sT (connect scan): no raw sockets, so no capability is needed.
      capabilities = { drop = ["ALL"] }
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this["scanner"].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "scanner"
      }
    }
  }])
}

# The key sealing container-registry passwords, for the scanner task (task definition `secrets`).
resource "aws_ssm_parameter" "registry_auth_key" {
  count  = nonsensitive(var.registry_auth_key == null) ? 0 : 1
  name   = "/${var.prefix}/registry-auth-key"
  type   = "SecureString"
  key_id = aws_kms_key.main.arn
  value  = var.registry_auth_key
}
