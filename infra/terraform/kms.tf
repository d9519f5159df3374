# One customer-managed key for everything Perimeter stores: table, reports bucket, queues, log groups,
# alarm topic, Lambda environment (which holds the key pepper) and the scanner image repository.
# $1/month + $0.03 per 10k requests buys a key policy we control, CloudTrail records of every decrypt
# of partners' findings, and crypto-shredding at teardown (schedule the key's deletion).

resource "aws_kms_key" "main" {
  description             = "${var.prefix}: table, reports, queues, logs, Lambda environment"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  # Services that act as themselves (not as a caller's IAM role) need the key policy: CloudWatch Logs
  # encrypts log groups, CloudWatch alarms publish to the encrypted SNS topic. Everything else
  # (DynamoDB, S3, SQS, Lambda) uses the calling role's IAM permissions, granted per role.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsOurLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"
          }
        }
      },
      {
        Sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.prefix}"
  target_key_id = aws_kms_key.main.key_id
}

# The statement every role that touches encrypted data gets: this one key, nothing else.
data "aws_iam_policy_document" "kms_use" {
  statement {
    sid       = "UseTheDataKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.main.arn]
  }
}
