# Webhook events: SQS queue + dead-letter queue, consumed by deliver_webhooks through an event source
# mapping (defined here, not by Chalice: on_sqs_message cannot ask for ReportBatchItemFailures).
#
# The numbers are chalicelib/webhooks/queue_config.py's (the local stack provisions from it and the
# consumer is built around it); tests/infra/test_contract.py imports that module and compares every
# value below, and checks visibility >= 6x contract.WEBHOOK_CONSUMER.timeout. Literals, so the
# test can read them without evaluating Terraform.

locals {
  webhook_queue = {
    visibility_timeout_seconds = 360     # 6 x deliver_webhooks' 60 s timeout (AWS event-source guidance)
    message_retention_seconds  = 345600  # 4 days: a consumer outage of days loses nothing
    max_receive_count          = 5       # 2 receives by design (one visibility hop, the attempt) + 3 crashes
    dlq_retention_seconds      = 1209600 # 14 days (SQS maximum), longer than the queue's: redriven messages keep their enqueue time
    batch_size                 = 10
    batching_window_seconds    = 0 # the first attempt is "immediately"
  }
}

resource "aws_sqs_queue" "webhooks_dlq" {
  name                              = "${var.prefix}-webhook-events-dlq"
  message_retention_seconds         = local.webhook_queue.dlq_retention_seconds
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 3600
}

resource "aws_sqs_queue" "webhooks" {
  name                              = "${var.prefix}-webhook-events"
  visibility_timeout_seconds        = local.webhook_queue.visibility_timeout_seconds
  message_retention_seconds         = local.webhook_queue.message_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 3600

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.webhooks_dlq.arn
    maxReceiveCount     = local.webhook_queue.max_receive_count
  })
}

# Only the webhook queue may dead-letter into the DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "webhooks_dlq" {
  queue_url = aws_sqs_queue.webhooks_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.webhooks.arn]
  })
}

resource "aws_lambda_event_source_mapping" "webhooks" {
  event_source_arn                   = aws_sqs_queue.webhooks.arn
  function_name                      = aws_lambda_function.fn[local.webhook_consumer].arn
  batch_size                         = local.webhook_queue.batch_size
  maximum_batching_window_in_seconds = local.webhook_queue.batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.webhook_max_concurrency
  }
}
