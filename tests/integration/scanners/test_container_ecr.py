"""ECR registry credentials from GetAuthorizationToken (moto), made lazily per region and fed to the client."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws.ecr import EcrAuth, EcrAuthError
from chalicelib.scanners.container.options import RegistryCredentials
from chalicelib.scanners.container.registry import ecr_credentials


def test_ecr_token_becomes_basic_credentials_and_clients_are_made_once_per_region() -> None:
    made: list[str] = []

    def factory(region: str) -> Any:
        made.append(region)
        return boto3.client("ecr", region_name=region)

    with mock_aws():
        auth = EcrAuth(factory)
        assert made == []  # nothing built until a scan needs it
        user, password = auth.credentials("eu-west-1")
        auth.credentials("eu-west-1")
        provider = ecr_credentials(auth)
        creds = provider("eu-west-1")
    assert user == "AWS" and password and made == ["eu-west-1"]
    assert isinstance(creds, RegistryCredentials) and creds.username == "AWS"
    assert password not in repr(creds)


def test_an_unusable_token_is_an_ecr_auth_error() -> None:
    class Broken:
        def get_authorization_token(self) -> dict[str, Any]:
            return {"authorizationData": [{"authorizationToken": "bm90LWEtcGFpcg=="}]}  # "not-a-pair"

    with pytest.raises(EcrAuthError):
        EcrAuth(lambda region: Broken()).credentials("us-east-1")
