# The single DynamoDB table (chalicelib/aws/dynamodb.py): pk/sk string keys, no GSI, TTL on
# expires_at. On-demand: a scan is a few dozen request units and traffic is bursty.

resource "aws_dynamodb_table" "main" {
  name                        = var.prefix
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}
