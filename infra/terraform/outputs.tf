# Everything the code and the operator need. scripts/stage_config.py reads lambda_environment.

output "region" {
  description = "AWS region of the deployment (AWS_REGION)."
  value       = local.region
}

output "api_url" {
  description = "Base URL of the API stage; the health check is <api_url>/v1/health."
  value       = local.api_url
}

output "table_name" {
  description = "DynamoDB table (PERIMETER_TABLE)."
  value       = aws_dynamodb_table.main.name
}

output "bucket_name" {
  description = "Reports bucket (PERIMETER_BUCKET)."
  value       = aws_s3_bucket.reports.bucket
}

output "webhook_queue_url" {
  description = "Webhook events queue (PERIMETER_WEBHOOK_QUEUE_URL)."
  value       = aws_sqs_queue.webhooks.url
}

output "webhook_dlq_url" {
  description = "Webhook dead-letter queue (PERIMETER_WEBHOOK_DLQ_URL)."
  value       = aws_sqs_queue.webhooks_dlq.url
}

output "state_machine_arn" {
  description = "Scan pipeline state machine (PERIMETER_STATE_MACHINE_ARN)."
  value       = aws_sfn_state_machine.pipeline.arn
}

output "cluster_name" {
  description = "ECS cluster of the scanner tasks (PERIMETER_CLUSTER)."
  value       = aws_ecs_cluster.scanners.name
}

output "ecr_repository_url" {
  description = "Push the scanner image here, tagged var.scanner_image_tag."
  value       = aws_ecr_repository.scanner.repository_url
}

output "scanner_task_definition_arn" {
  description = "Scanner task definition (ASL placeholder scanner_task_definition_arn)."
  value       = aws_ecs_task_definition.scanner.arn
}

output "scanner_subnet_ids" {
  description = "Private subnets of the scanner tasks."
  value       = aws_subnet.private[*].id
}

output "scanner_security_group_id" {
  description = "Security group of the scanner tasks."
  value       = aws_security_group.scanner.id
}

output "scanner_egress_ip" {
  description = "Public IPv4 address every scan comes from (partners may allow-list it)."
  value       = aws_eip.nat.public_ip
}

output "function_names" {
  description = "Lambda function names by contract name."
  value       = { for k, fn in aws_lambda_function.fn : k => fn.function_name }
}

output "kms_key_arn" {
  description = "The data key (table, bucket, queues, logs)."
  value       = aws_kms_key.main.arn
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms publish to."
  value       = aws_sns_topic.alarms.arn
}

output "lambda_environment" {
  description = "Non-secret environment of the Lambdas (PERIMETER_KEY_PEPPER left out): what `make stage-config` writes into .chalice/config.json."
  value       = { for k, v in local.lambda_settings : k => v if v != null && v != "" }
}
