"""A small Python client for the gengate gRPC gateway.

One channel with the stubs of every gengate.v1 service, and helpers for the request id and
the error details gengate puts on failed calls.

Runs on Debian's /usr/bin/python3 with python3-grpcio and python3-protobuf (the python3 first
on PATH may be another interpreter without them). The gengate.v1 modules are generated, not
committed: client/python/generate.sh OUT_DIR writes them; put OUT_DIR and client/python on
PYTHONPATH.
"""

from __future__ import annotations

import datetime
from typing import Optional, Sequence, Tuple

import grpc

from gengate.v1 import chat_pb2_grpc
from gengate.v1 import embeddings_pb2_grpc
from gengate.v1 import images_pb2_grpc
from gengate.v1 import responses_pb2_grpc
from google.rpc import error_details_pb2
from google.rpc import status_pb2

# The metadata key gengate reads the caller's request id from, and returns it under in the
# initial metadata (it makes one when the call has none).
REQUEST_ID_KEY = "x-request-id"
# The trailing metadata key that carries the upstream's own request id.
UPSTREAM_REQUEST_ID_KEY = "x-upstream-request-id"
# Where gRPC carries the google.rpc.Status with the error details.
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class GengateClient:
    """One channel to gengate and a stub per service; close it, or use it as a context manager."""

    def __init__(self, target: str, channel: Optional[grpc.Channel] = None):
        # Plaintext by default, as on a laptop or inside a mesh that terminates TLS; pass a
        # grpc.secure_channel to change that.
        self.channel = channel if channel is not None else grpc.insecure_channel(target)
        self.chat = chat_pb2_grpc.ChatServiceStub(self.channel)
        self.responses = responses_pb2_grpc.ResponsesServiceStub(self.channel)
        self.images = images_pb2_grpc.ImagesServiceStub(self.channel)
        self.embeddings = embeddings_pb2_grpc.EmbeddingsServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "GengateClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def request_id_metadata(request_id: str) -> Tuple[Tuple[str, str], ...]:
    """Call metadata that gives the call `request_id`, shared by gengate's and the upstream's logs."""
    return ((REQUEST_ID_KEY, request_id),)


def metadata_value(metadata: Optional[Sequence[Tuple[str, str]]], key: str) -> Optional[str]:
    """The first value of `key` in initial or trailing metadata, or None."""
    for name, value in metadata or ():
        if name == key:
            return value
    return None


def status_details(error: grpc.RpcError) -> Optional[status_pb2.Status]:
    """The google.rpc.Status a failed call carries, or None when it carries none."""
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    raw = metadata_value(trailing, _STATUS_DETAILS_KEY)
    return status_pb2.Status.FromString(raw) if raw is not None else None


def error_info(error: grpc.RpcError) -> Optional[error_details_pb2.ErrorInfo]:
    """The google.rpc.ErrorInfo of a failed call, or None.

    `reason` is the upstream's error code, `domain` the upstream host, and `metadata` holds
    `http_status` and `upstream_request_id`. gengate's own validation errors have none.
    """
    status = status_details(error)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None


def retry_delay(error: grpc.RpcError) -> Optional[datetime.timedelta]:
    """How long the upstream asked the caller to wait (google.rpc.RetryInfo), or None."""
    status = status_details(error)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info) and info.HasField("retry_delay"):
            return info.retry_delay.ToTimedelta()
    return None
