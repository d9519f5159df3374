# Reports bucket: evidence documents, rendered reports and tenants' logos, all under tenants/<id>/
# (contract.py scan_prefix). Private, KMS-encrypted, TLS only; presigned URLs older than 15 minutes
# are refused by policy whatever expiry the URL itself claims (DESIGN.md section 4).

resource "aws_s3_bucket" "reports" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket; CloudTrail data events can be enabled per account when an audit needs them.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage for derived, re-renderable reports that expire after report_retention_days.
  #checkov:skip=CKV2_AWS_62:No consumer of bucket events: the pipeline learns about evidence through the Step Functions task token.
  bucket        = "${var.prefix}-reports-${local.account_id}-${local.region}"
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_ownership_controls" "reports" {
  bucket = aws_s3_bucket.reports.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "reports" {
  bucket                  = aws_s3_bucket.reports.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "reports" {
  bucket = aws_s3_bucket.reports.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    # One KMS request per bucket key period instead of one per object.
    bucket_key_enabled = true
  }
}

# Versioning keeps an overwritten or deleted report recoverable for a week; non-current versions
# expire, so it costs a week of storage at most.
resource "aws_s3_bucket_versioning" "reports" {
  bucket = aws_s3_bucket.reports.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "reports" {
  bucket     = aws_s3_bucket.reports.id
  depends_on = [aws_s3_bucket_versioning.reports]

  # Evidence and reports of old scans. Tenants' logos live under branding/ (contract.branding_logo_key)
  # and are kept; see docs/deploy.md ("Retention").
  rule {
    id     = "expire-tenant-objects"
    status = "Enabled"

    filter {
      prefix = local.tenants_prefix
    }

    expiration {
      days = var.report_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "clean-up-everything-else"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "reports_bucket" {
  statement {
    sid     = "DenyPlainHttp"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.reports.arn,
      "${aws_s3_bucket.reports.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # s3:signatureAge is milliseconds since the request was signed: for a presigned URL, since it was
  # issued. 900000 ms = 15 minutes, the longest a report link may live.
  statement {
    sid       = "DenyPresignedOlderThan15Minutes"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = ["${aws_s3_bucket.reports.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericGreaterThan"
      variable = "s3:signatureAge"
      values   = ["900000"]
    }
  }
}

resource "aws_s3_bucket_policy" "reports" {
  bucket     = aws_s3_bucket.reports.id
  policy     = data.aws_iam_policy_document.reports_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.reports]
}
