"""The store in an S3 bucket (any S3-compatible endpoint), for many machines.

Settings: `S3_BUCKET` (required), `S3_ENDPOINT_URL` (unset: AWS), `S3_REGION`
(default us-east-1), `S3_ACCESS_KEY_FILE` + `S3_SECRET_KEY_FILE` (else boto3's own
chain: instance roles, `AWS_SHARED_CREDENTIALS_FILE`…), `S3_PUBLIC_URL` (where people
read the bucket; default `<endpoint>/<bucket>`). Objects carry their SHA-256 as
metadata, so downloads are verified like the images-server's. Retries of transient
errors are botocore's "standard" mode (backoff with jitter, 5 attempts); credentials
or permissions that S3 rejects are `StoreRefused`, never retried.
"""

import hashlib
import json
import logging
import os
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
import boto3.exceptions
import botocore.config
import botocore.exceptions

from ouro.config import ConfigError, read_secret_file
from ouro.store import (
    BLOCK,
    Entry,
    InvalidPath,
    LiveLog,
    NotFound,
    StoreError,
    StoreRefused,
    check_path,
    check_sha256,
    content_type,
    file_sha256,
    sha256_of,
)
from ouro.store.live import ChunkedLiveLog

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

_MISSING = ("404", "NoSuchKey", "NotFound")
_REFUSED = ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")


def store_error(what: str, error: Exception) -> StoreError:
    """The `StoreError` that a failed boto3 call means: `NotFound`, `StoreRefused`, or
    (for anything else, outages included) a plain `StoreError`."""
    # The transfer manager (upload_file…) raises its own error from S3's ClientError.
    cause = error if isinstance(error, botocore.exceptions.ClientError) else error.__context__
    if isinstance(cause, botocore.exceptions.ClientError):
        code = str(cause.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            return NotFound(f"{what}: does not exist")
        if code in _REFUSED:
            return StoreRefused(f"{what}: {code}")
        return StoreError(f"{what}: {code or cause}")
    return StoreError(f"{what}: {error}")


def public_read_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }


class S3Store:
    def __init__(self, client: "S3Client", bucket: str, public_url: str):
        self._client = client
        self.bucket = bucket
        self.public_url = public_url.rstrip("/")

    @classmethod
    def from_config(cls) -> "S3Store":
        bucket = os.environ.get("S3_BUCKET")
        if not bucket:
            raise ConfigError("S3_BUCKET is not set (OURO_STORE=s3 needs a bucket)")
        endpoint = os.environ.get("S3_ENDPOINT_URL") or None
        region = os.environ.get("S3_REGION") or "us-east-1"
        key_id = secret = None
        key_file, secret_file = (
            os.environ.get(n) for n in ("S3_ACCESS_KEY_FILE", "S3_SECRET_KEY_FILE")
        )
        if key_file or secret_file:
            if not (key_file and secret_file):
                raise ConfigError("set both S3_ACCESS_KEY_FILE and S3_SECRET_KEY_FILE, or neither")
            key_id = read_secret_file(key_file, "S3 access key")
            secret = read_secret_file(secret_file, "S3 secret key")
        config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 5},
            # Self-hosted S3 (MinIO, Ceph, moto) rarely has per-bucket host names.
            s3={"addressing_style": "path" if endpoint else "auto"},
        )
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            config=config,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )
        default_public = (
            f"{endpoint.rstrip('/')}/{bucket}"
            if endpoint
            else f"https://{bucket}.s3.{region}.amazonaws.com"
        )
        return cls(client, bucket, os.environ.get("S3_PUBLIC_URL") or default_public)

    def close(self) -> None:
        self._client.close()

    def create_bucket(self, *, public_read: bool = True) -> None:
        """Create the bucket if it does not exist (local set-ups and tests).

        With `public_read`, anyone may GET objects (not list them): log pages and their
        links, and images, are read by browsers and workers without credentials.
        """
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except botocore.exceptions.ClientError:
            region = self._client.meta.region_name
            where: Any = {} if region == "us-east-1" else {"LocationConstraint": region}
            self._call(
                f"create bucket {self.bucket}",
                self._client.create_bucket,
                **({"CreateBucketConfiguration": where} if where else {}),
            )
        if public_read:
            self._call(
                f"make {self.bucket} readable",
                self._client.put_bucket_policy,
                Policy=json.dumps(public_read_policy(self.bucket)),
            )

    def _call(self, what: str, call: Any, **kwargs: Any) -> Any:
        try:
            return call(Bucket=self.bucket, **kwargs)
        except (
            botocore.exceptions.ClientError,
            botocore.exceptions.BotoCoreError,
            # The transfer manager's own (S3UploadFailedError…).
            boto3.exceptions.Boto3Error,
        ) as error:
            raise store_error(what, error) from error

    def _extra(self, path: str, sha256: str) -> dict[str, Any]:
        return {"ContentType": content_type(path), "Metadata": {"sha256": sha256}}

    # ---- the Store interface ----

    def put(self, path: str, source: BinaryIO | bytes, sha256: str | None = None) -> None:
        check_path(path)
        if sha256 is not None:
            check_sha256(sha256)
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            actual = hashlib.sha256(data).hexdigest()
            self._verify(path, sha256, actual)
            self._call(
                f"PUT {path}",
                self._client.put_object,
                Key=path,
                Body=data,
                **self._extra(path, actual),
            )
            return
        # S3 makes an object visible when its upload completes, so the checksum must be
        # known and checked first: hash a seekable source in place, spool anything else.
        with tempfile.TemporaryFile() as spool:
            if source.seekable():
                start = source.tell()
                actual = sha256_of(source)
                source.seek(start)
                body: BinaryIO = source
            else:
                digest = hashlib.sha256()
                while block := source.read(BLOCK):
                    digest.update(block)
                    spool.write(block)
                spool.seek(0)
                actual = digest.hexdigest()
                body = spool
            self._verify(path, sha256, actual)
            self._call(
                f"PUT {path}",
                lambda **kw: self._client.upload_fileobj(
                    body, kw["Bucket"], path, ExtraArgs=self._extra(path, actual)
                ),
            )

    @staticmethod
    def _verify(path: str, expected: str | None, actual: str) -> None:
        if expected is not None and expected != actual:
            raise StoreError(f"PUT {path}: SHA-256 {expected} does not match {actual}")

    def put_file(self, path: str, source: Path) -> None:
        check_path(path)
        digest = file_sha256(source)
        self._call(
            f"PUT {path}",
            lambda **kw: self._client.upload_file(
                str(source), kw["Bucket"], path, ExtraArgs=self._extra(path, digest)
            ),
        )
        log.info("uploaded %s as %s (sha256 %s)", source, path, digest)

    def get_to(self, path: str, target: Path) -> None:
        check_path(path)
        head = self._call(f"HEAD {path}", self._client.head_object, Key=path)
        expected = head.get("Metadata", {}).get("sha256")
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", delete=False
        ) as file:
            try:
                self._call(
                    f"GET {path}",
                    lambda **kw: self._client.download_fileobj(kw["Bucket"], path, file),
                )
                file.flush()
                file.seek(0)
                if expected and sha256_of(file) != expected:
                    raise StoreError(f"GET {path}: checksum mismatch, download corrupted")
                os.replace(file.name, target)
            except BaseException:
                os.unlink(file.name)
                raise

    def get(self, path: str) -> bytes:
        check_path(path)
        response = self._call(f"GET {path}", self._client.get_object, Key=path)
        with response["Body"] as body:
            data: bytes = body.read()
        return data

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        check_path(prefix, folder=True)
        if not prefix.endswith("/"):
            raise InvalidPath(f"a listing prefix is a folder ending in /, not {prefix!r:.80}")
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                yield from page.get("Contents", [])  # type: ignore[misc]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            raise store_error(f"list {prefix}", error) from error

    def entries(self, prefix: str) -> list[Entry]:
        return [
            Entry(item["Key"], int(item["Size"]), item["LastModified"].timestamp())
            for item in self._objects(prefix)
        ]

    def list(self, prefix: str) -> list[str]:
        return sorted(item["Key"] for item in self._objects(prefix))

    def delete(self, path: str) -> None:
        check_path(path, folder=True)
        if not path.endswith("/"):
            self._call(f"DELETE {path}", self._client.delete_object, Key=path)
            return
        keys = [item["Key"] for item in self._objects(path)]
        for start in range(0, len(keys), 1000):  # the most one request may delete
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self._call(
                f"DELETE {path}",
                self._client.delete_objects,
                Delete={"Objects": batch, "Quiet": True},
            )

    def url(self, path: str) -> str:
        check_path(path, folder=True)
        return f"{self.public_url}/{urllib.parse.quote(path)}"

    def live_log(self, job_dir: str) -> LiveLog:
        return ChunkedLiveLog(self, job_dir)
