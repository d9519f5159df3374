"""S3 adapter of the ObjectStore port: SSE on every put, presigned GETs."""

from __future__ import annotations

from typing import Any

from chalicelib.core.objects import ObjectMissing


class S3ObjectStore:
    """One bucket through a boto3 S3 client."""

    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self._client = client

    def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store `body` at `key` with AES256 server-side encryption."""
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type,
                                ServerSideEncryption="AES256")

    def get(self, key: str) -> bytes:
        """The object's bytes; raises ObjectMissing."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.NoSuchKey:
            raise ObjectMissing(key) from None
        return bytes(response["Body"].read())

    def presign(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """A presigned GET URL for `key`, valid `expires_in` seconds."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        return str(self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in))
