"""ChatService through gengate_client against the real gengate on its fake upstream."""

import datetime
import os
import subprocess
import sys
import unittest

import grpc

from gengate.v1 import chat_pb2
from gengate_client import (GengateClient, REQUEST_ID_KEY, UPSTREAM_REQUEST_ID_KEY, error_info,
                            metadata_value, request_id_metadata, retry_delay)
from gengate_server import GengateServer

_server = GengateServer()
_TIMEOUT_SECONDS = 30


def setUpModule():
    _server.start()


def tearDownModule():
    code = _server.stop()
    if code != 0:
        raise AssertionError(f"gengate exited with {code} on SIGTERM")


def chat_request(model, prompt):
    return chat_pb2.CreateChatCompletionRequest(
        model=model, messages=[chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=prompt)])


class ChatTest(unittest.TestCase):

    def setUp(self):
        self.client = GengateClient(_server.target)
        self.addCleanup(self.client.close)

    def test_create_chat_completion_echoes_the_prompt(self):
        completion = self.client.chat.CreateChatCompletion(
            chat_request("gpt-4o-mini", "Hello there"), timeout=_TIMEOUT_SECONDS)
        self.assertEqual(len(completion.choices), 1)
        choice = completion.choices[0]
        self.assertEqual(choice.message.content, "Echo: Hello there")
        self.assertEqual(choice.message.role, chat_pb2.ROLE_ASSISTANT)
        self.assertEqual(choice.finish_reason, chat_pb2.FINISH_REASON_STOP)
        self.assertEqual(completion.model, "gpt-4o-mini")
        self.assertEqual((completion.usage.prompt_tokens, completion.usage.completion_tokens,
                          completion.usage.total_tokens), (2, 3, 5))

    def test_stream_chat_completion_sends_chunks_then_usage(self):
        chunks = list(self.client.chat.StreamChatCompletion(
            chat_request("gpt-4o-mini", "Hello there"), timeout=_TIMEOUT_SECONDS))
        pieces = [choice.delta.content for chunk in chunks for choice in chunk.choices
                  if choice.delta.content]
        self.assertEqual("".join(pieces), "Echo: Hello there")
        self.assertGreaterEqual(len(pieces), 3)
        self.assertEqual(chunks[0].choices[0].delta.role, chat_pb2.ROLE_ASSISTANT)
        self.assertEqual(chunks[-2].choices[0].finish_reason, chat_pb2.FINISH_REASON_STOP)
        last = chunks[-1]
        self.assertEqual(len(last.choices), 0)
        self.assertTrue(last.HasField("usage"))
        self.assertEqual(last.usage.total_tokens, 5)
        self.assertFalse(any(chunk.HasField("usage") for chunk in chunks[:-1]))

    def test_cancel_mid_stream_ends_cancelled(self):
        # A long prompt makes a long echo: thousands of chunks, so the stream is still running
        # when the first one arrives.
        stream = self.client.chat.StreamChatCompletion(
            chat_request("gpt-4o-mini", " ".join(["word"] * 2000)), timeout=_TIMEOUT_SECONDS)
        next(stream)
        self.assertTrue(stream.cancel(), "the stream had already ended before the cancel")
        with self.assertRaises(grpc.RpcError) as raised:
            for _ in stream:
                pass
        self.assertEqual(raised.exception.code(), grpc.StatusCode.CANCELLED)
        self.assertEqual(stream.code(), grpc.StatusCode.CANCELLED)

    def test_empty_model_is_invalid_argument(self):
        calls = {
            "CreateChatCompletion": lambda request: self.client.chat.CreateChatCompletion(
                request, timeout=_TIMEOUT_SECONDS),
            "StreamChatCompletion": lambda request: list(self.client.chat.StreamChatCompletion(
                request, timeout=_TIMEOUT_SECONDS)),
        }
        for name, call in calls.items():
            with self.subTest(name), self.assertRaises(grpc.RpcError) as raised:
                call(chat_request("", "Hello there"))
            error = raised.exception
            self.assertEqual(error.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn("model", error.details())
            # gengate rejected the request itself: no upstream, so no upstream error code.
            self.assertIsNone(error_info(error))

    def test_upstream_errors_map_to_codes_with_error_info(self):
        # The fake upstream answers a model named fake-error-<status> with that HTTP status.
        cases = [
            ("400", grpc.StatusCode.INVALID_ARGUMENT, "invalid_request", None),
            ("401", grpc.StatusCode.UNAUTHENTICATED, "invalid_api_key", None),
            ("403", grpc.StatusCode.PERMISSION_DENIED, "permission_denied", None),
            ("404", grpc.StatusCode.NOT_FOUND, "model_not_found", None),
            ("409", grpc.StatusCode.ABORTED, "conflict", None),
            ("429", grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limit_exceeded", 1),
            ("500", grpc.StatusCode.INTERNAL, "server_error", None),
            ("503", grpc.StatusCode.UNAVAILABLE, "service_unavailable", 1),
            ("504", grpc.StatusCode.DEADLINE_EXCEEDED, "timeout", None),
        ]
        for http_status, code, reason, delay_seconds in cases:
            with self.subTest(http_status):
                model = f"fake-error-{http_status}"
                request_id = f"python-error-{http_status}"
                with self.assertRaises(grpc.RpcError) as raised:
                    self.client.chat.CreateChatCompletion(
                        chat_request(model, "Hello there"),
                        metadata=request_id_metadata(request_id), timeout=_TIMEOUT_SECONDS)
                error = raised.exception
                self.assertEqual(error.code(), code)
                self.assertIn(model, error.details())
                info = error_info(error)
                self.assertIsNotNone(info)
                self.assertEqual(info.reason, reason)
                self.assertTrue(info.domain)
                self.assertEqual(info.metadata["http_status"], http_status)
                self.assertEqual(info.metadata["upstream_request_id"], request_id)
                expected_delay = (datetime.timedelta(seconds=delay_seconds)
                                  if delay_seconds is not None else None)
                self.assertEqual(retry_delay(error), expected_delay)

    def test_request_id_comes_back_in_metadata(self):
        _, call = self.client.chat.CreateChatCompletion.with_call(
            chat_request("gpt-4o-mini", "Hi"), metadata=request_id_metadata("python-unary-id"),
            timeout=_TIMEOUT_SECONDS)
        self.assertEqual(metadata_value(call.initial_metadata(), REQUEST_ID_KEY), "python-unary-id")
        # The fake upstream echoes X-Request-Id as its own request id.
        self.assertEqual(metadata_value(call.trailing_metadata(), UPSTREAM_REQUEST_ID_KEY),
                         "python-unary-id")

        stream = self.client.chat.StreamChatCompletion(
            chat_request("gpt-4o-mini", "Hi"), metadata=request_id_metadata("python-stream-id"),
            timeout=_TIMEOUT_SECONDS)
        self.assertEqual(metadata_value(stream.initial_metadata(), REQUEST_ID_KEY),
                         "python-stream-id")
        self.assertGreater(len(list(stream)), 0)
        self.assertEqual(stream.code(), grpc.StatusCode.OK)

    def test_request_id_is_made_when_the_call_has_none(self):
        ids = set()
        for _ in range(2):
            _, call = self.client.chat.CreateChatCompletion.with_call(
                chat_request("gpt-4o-mini", "Hi"), timeout=_TIMEOUT_SECONDS)
            request_id = metadata_value(call.initial_metadata(), REQUEST_ID_KEY)
            self.assertTrue(request_id)
            ids.add(request_id)
        self.assertEqual(len(ids), 2, "two calls got the same made-up request id")


class ExampleTest(unittest.TestCase):
    """The README's Python snippet is example.py; this runs it against the test server."""

    def test_example_runs_against_gengate(self):
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "example.py")
        result = subprocess.run(
            [sys.executable, example, "Hello", "from", "Python"],
            env={**os.environ, "GENGATE_TARGET": _server.target},
            capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "unary: Echo: Hello from Python\n"
                                        "request id: example-python\n"
                                        "stream: Echo: Hello from Python\n"
                                        "usage: 7 tokens\n")


if __name__ == "__main__":
    unittest.main()
