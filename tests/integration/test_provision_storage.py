"""The embedded stack keeps its table and objects in its data directory: moto gets no table or bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chalicelib.core.settings import Settings
from chalicelib.local.provision import provision
from chalicelib.local.stack import uses_aws_storage


def test_with_a_data_dir_provisioning_skips_table_and_bucket(aws: dict[str, Any], tmp_path: Path) -> None:
    settings = Settings.from_env({"PERIMETER_DATA_DIR": str(tmp_path)}, key_pepper="p" * 32)
    assert not uses_aws_storage(settings)
    resources = provision(aws, storage=uses_aws_storage(settings))
    assert aws["dynamodb"].list_tables()["TableNames"] == []
    assert aws["s3"].list_buckets()["Buckets"] == []
    assert resources.queue_url and resources.state_machine_arn  # the rest stays on moto


def test_without_a_data_dir_moto_keeps_table_and_bucket(aws: dict[str, Any]) -> None:
    settings = Settings.from_env({}, key_pepper="p" * 32)
    assert uses_aws_storage(settings)
    provision(aws, storage=uses_aws_storage(settings))
    assert aws["dynamodb"].list_tables()["TableNames"] == ["perimeter"]
    assert [b["Name"] for b in aws["s3"].list_buckets()["Buckets"]] == ["perimeter-reports"]
