# The scanner VPC: two private subnets (the Fargate tasks, in two AZs) whose only way out is a NAT
# in a public subnet, an S3 gateway endpoint (image layers and evidence uploads bypass the NAT), flow
# logs, and a network ACL that keeps scanners out of private address space.
#
# NAT choice (docs/decisions.md, docs/cost.md): by default one t4g.nano NAT instance
# (~$3.07 instance + $3.65 public IPv4 + $0.64 EBS = ~$7.4/month, no per-GB processing fee) instead
# of a NAT gateway (~$32.85/month + $0.045/GB). At 10,000 scans/month the gateway alone would cost
# $0.0033 per scan, more than the whole target. The instance is a single point of failure for
# scans only (API and webhooks do not use it): EC2 auto-recovery restarts it, a scan that
# fails meanwhile is marked failed and can be re-run. nat_type = "gateway" switches to the managed,
# highly available gateway. Either way egress leaves from one Elastic IP (output scanner_egress_ip),
# which partners can allow-list.

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only used when var.availability_zones is empty, and then sliced to the first two sorted names; a newly added zone sorts last.
  state = "available"
}

locals {
  azs             = length(var.availability_zones) == 2 ? var.availability_zones : slice(sort(data.aws_availability_zones.available.names), 0, 2)
  public_subnets  = [for i in range(2) : cidrsubnet(var.vpc_cidr, 4, i)]
  private_subnets = [for i in range(2) : cidrsubnet(var.vpc_cidr, 4, i + 8)]
  nat_instance    = var.nat_type == "instance"

  # Where a scanner must never connect: this VPC and every private or special-purpose IPv4 range.
  # The application's target guard refuses them first (DESIGN.md section 4); this is the network's
  # second line. Note: by AWS design NACLs and security groups do NOT filter traffic to the Amazon
  # DNS resolver, the instance metadata service (169.254.169.254) or the ECS task metadata endpoint
  # (169.254.170.2). The 169.254.0.0/16 rule below covers any other link-local address; against
  # the metadata endpoints the defences are the target guard and the task role's tiny permissions.
  denied_egress_cidrs = distinct([
    var.vpc_cidr,
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
    "0.0.0.0/8",
    "192.0.0.0/24",
    "198.18.0.0/15",
    "224.0.0.0/3",
  ])
}

resource "aws_vpc" "scanners" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = "${var.prefix}-scanners" }
}

# Nothing may use the default security group.
resource "aws_default_security_group" "scanners" {
  vpc_id = aws_vpc.scanners.id
}

resource "aws_internet_gateway" "scanners" {
  vpc_id = aws_vpc.scanners.id
  tags   = { Name = "${var.prefix}-scanners" }
}

resource "aws_subnet" "public" {
  count                   = 2
  vpc_id                  = aws_vpc.scanners.id
  cidr_block              = local.public_subnets[count.index]
  availability_zone       = local.azs[count.index]
  map_public_ip_on_launch = false

  tags = { Name = "${var.prefix}-public-${local.azs[count.index]}" }
}

resource "aws_subnet" "private" {
  count                   = 2
  vpc_id                  = aws_vpc.scanners.id
  cidr_block              = local.private_subnets[count.index]
  availability_zone       = local.azs[count.index]
  map_public_ip_on_launch = false

  tags = { Name = "${var.prefix}-scanners-${local.azs[count.index]}" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.scanners.id
  tags   = { Name = "${var.prefix}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.scanners.id
}

resource "aws_route_table_association" "public" {
  count          = 2
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.scanners.id
  tags   = { Name = "${var.prefix}-scanners" }
}

resource "aws_route" "private_egress" {
  route_table_id         = aws_route_table.private.id
  destination_cidr_block = "0.0.0.0/0"
  network_interface_id   = local.nat_instance ? aws_network_interface.nat[0].id : null
  nat_gateway_id         = local.nat_instance ? null : aws_nat_gateway.scanners[0].id
}

resource "aws_route_table_association" "private" {
  count          = 2
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

# Free: image layers (ECR stores them in S3) and evidence uploads stay off the NAT.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.scanners.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
}

# --- Egress address -------------------------------------------------------------------------------

resource "aws_eip" "nat" {
  domain            = "vpc"
  network_interface = local.nat_instance ? aws_network_interface.nat[0].id : null
  depends_on        = [aws_internet_gateway.scanners]

  tags = { Name = "${var.prefix}-scanner-egress" }
}

resource "aws_nat_gateway" "scanners" {
  count         = local.nat_instance ? 0 : 1
  allocation_id = aws_eip.nat.id
  subnet_id     = aws_subnet.public[0].id
  depends_on    = [aws_internet_gateway.scanners]

  tags = { Name = "${var.prefix}-scanners" }
}

# --- NAT instance ---------------------------------------------------------------------------------

resource "aws_security_group" "nat" {
  #checkov:skip=CKV_AWS_382:A NAT forwards whatever the scanners send (any TCP port of public hosts); private ranges are dropped by the scanner NACL and by the NAT's own forward filter.
  count       = local.nat_instance ? 1 : 0
  name        = "${var.prefix}-nat"
  description = "NAT instance: forwards traffic from the scanner subnets only"
  vpc_id      = aws_vpc.scanners.id

  ingress {
    description = "Traffic to forward, from the scanner subnets"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = local.private_subnets
  }

  egress {
    description = "Forwarded traffic and the instance package updates"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# A fixed interface keeps the route and the Elastic IP when the instance is replaced.
resource "aws_network_interface" "nat" {
  count             = local.nat_instance ? 1 : 0
  subnet_id         = aws_subnet.public[0].id
  security_groups   = [aws_security_group.nat[0].id]
  source_dest_check = false
  description       = "${var.prefix} NAT instance"
}

data "aws_ssm_parameter" "nat_ami" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# No permissions beyond Session Manager, for operators who need a shell without an open SSH port.
resource "aws_iam_role" "nat" {
  count              = local.nat_instance ? 1 : 0
  name               = "${var.prefix}-nat"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy_attachment" "nat_ssm" {
  count      = local.nat_instance ? 1 : 0
  role       = aws_iam_role.nat[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "nat" {
  count = local.nat_instance ? 1 : 0
  name  = "${var.prefix}-nat"
  role  = aws_iam_role.nat[0].name
}

resource "aws_instance" "nat" {
  #checkov:skip=CKV_AWS_126:Detailed monitoring costs ~$2/month; 5-minute metrics and the status-check alarm suffice for a NAT.
  count                = local.nat_instance ? 1 : 0
  ami                  = nonsensitive(data.aws_ssm_parameter.nat_ami.value)
  instance_type        = var.nat_instance_type
  iam_instance_profile = aws_iam_instance_profile.nat[0].name
  ebs_optimized        = true
  monitoring           = false
  user_data = templatefile("${path.module}/nat-instance.sh.tftpl", {
    private_cidrs = local.private_subnets
    denied_cidrs  = local.denied_egress_cidrs
  })
  user_data_replace_on_change = true

  network_interface {
    network_interface_id = aws_network_interface.nat[0].id
    device_index         = 0
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  maintenance_options {
    auto_recovery = "default"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 8
    encrypted   = true
    kms_key_id  = aws_kms_key.main.arn
  }

  lifecycle {
    # A newer AMI is picked up by replacing the instance on purpose (taint), not on every plan.
    ignore_changes = [ami]
  }

  depends_on = [aws_eip.nat]

  tags = { Name = "${var.prefix}-nat" }
}

# --- Scanner security group and network ACL -------------------------------------------------------

# Security groups can only allow. Egress here is what scanning needs: TCP to any port of any address
# (port scan, TLS, HTTP, SMTP banners) and DNS over UDP to public resolvers. The deny of private
# ranges is done by the network ACL of the scanner subnets below (NACLs can deny).
resource "aws_security_group" "scanner" {
  #checkov:skip=CKV_AWS_382:A port scanner must reach every TCP port of arbitrary public hosts; private and special ranges are denied by the subnet NACL.
  #checkov:skip=CKV2_AWS_5:Attached at run time: the state machine passes it to ecs:RunTask (ASL placeholder scanner_security_group).
  name        = "${var.prefix}-scanner"
  description = "Fargate scanner tasks: no ingress; TCP and DNS egress"
  vpc_id      = aws_vpc.scanners.id

  egress {
    description = "TCP to any port: port scan, TLS, HTTP, mail checks"
    from_port   = 0
    to_port     = 65535
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "DNS over UDP to the resolvers in PERIMETER_DNS_SERVERS"
    from_port   = 53
    to_port     = 53
    protocol    = "udp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_network_acl" "scanners" {
  vpc_id     = aws_vpc.scanners.id
  subnet_ids = aws_subnet.private[*].id

  tags = { Name = "${var.prefix}-scanners" }
}

# Rules are evaluated lowest number first: denies (100+) before the allows (500+).
resource "aws_network_acl_rule" "scanner_egress_deny" {
  count          = length(local.denied_egress_cidrs)
  network_acl_id = aws_network_acl.scanners.id
  egress         = true
  rule_number    = 100 + count.index
  rule_action    = "deny"
  protocol       = "-1"
  cidr_block     = local.denied_egress_cidrs[count.index]
}

resource "aws_network_acl_rule" "scanner_egress_allow" {
  network_acl_id = aws_network_acl.scanners.id
  egress         = true
  rule_number    = 500
  rule_action    = "allow"
  protocol       = "-1"
  cidr_block     = "0.0.0.0/0"
}

# NACLs are stateless: answers come back to the task's ephemeral ports (Linux 32768-60999), from
# public addresses only (the denies apply inbound too, so nothing private can reach a task).
resource "aws_network_acl_rule" "scanner_ingress_deny" {
  #checkov:skip=CKV_AWS_352:This rule denies (rule_action = deny); the check reads any all-ports ingress rule as an allow.
  count          = length(local.denied_egress_cidrs)
  network_acl_id = aws_network_acl.scanners.id
  egress         = false
  rule_number    = 100 + count.index
  rule_action    = "deny"
  protocol       = "-1"
  cidr_block     = local.denied_egress_cidrs[count.index]
}

resource "aws_network_acl_rule" "scanner_ingress_tcp_replies" {
  network_acl_id = aws_network_acl.scanners.id
  egress         = false
  rule_number    = 500
  rule_action    = "allow"
  protocol       = "tcp"
  from_port      = 32768
  to_port        = 65535
  cidr_block     = "0.0.0.0/0"
}

resource "aws_network_acl_rule" "scanner_ingress_udp_replies" {
  network_acl_id = aws_network_acl.scanners.id
  egress         = false
  rule_number    = 510
  rule_action    = "allow"
  protocol       = "udp"
  from_port      = 32768
  to_port        = 65535
  cidr_block     = "0.0.0.0/0"
}

# ICMP "fragmentation needed" keeps path-MTU discovery working through the NAT.
resource "aws_network_acl_rule" "scanner_ingress_icmp" {
  #checkov:skip=CKV_AWS_352:ICMP has no ports; the rule admits only type 3 code 4 (fragmentation needed).
  network_acl_id = aws_network_acl.scanners.id
  egress         = false
  rule_number    = 520
  rule_action    = "allow"
  protocol       = "icmp"
  icmp_type      = 3
  icmp_code      = 4
  cidr_block     = "0.0.0.0/0"
}

# --- Flow logs ------------------------------------------------------------------------------------

# We scan other people's hosts: a record of every connection the scanners made is worth its cost
# (~30 KB of log per scan).
data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${var.prefix}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    sid       = "WriteFlowLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.this["flow_logs"].arn}:*"]
  }

  statement {
    sid       = "DescribeFlowLogGroup"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "least-privilege"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_flow_log" "scanners" {
  vpc_id               = aws_vpc.scanners.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.this["flow_logs"].arn
  iam_role_arn         = aws_iam_role.flow_logs.arn
}
