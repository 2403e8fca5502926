"""Asks gengate for one chat completion and then streams another, printing the answers.

    GENGATE_TARGET=127.0.0.1:50051 /usr/bin/python3 example.py Hello there
"""

import os
import sys

from gengate.v1 import chat_pb2
from gengate_client import GengateClient, REQUEST_ID_KEY, metadata_value, request_id_metadata


def main() -> None:
    target = os.environ.get("GENGATE_TARGET", "127.0.0.1:50051")
    prompt = " ".join(sys.argv[1:]) or "Hello there"
    request = chat_pb2.CreateChatCompletionRequest(
        model="gpt-4o-mini",
        messages=[chat_pb2.ChatMessage(role=chat_pb2.ROLE_USER, content=prompt)],
    )
    with GengateClient(target) as client:
        # Unary: the whole answer at once; the initial metadata carries the request id.
        completion, call = client.chat.CreateChatCompletion.with_call(
            request, metadata=request_id_metadata("example-python"), timeout=30)
        print("unary:", completion.choices[0].message.content)
        print("request id:", metadata_value(call.initial_metadata(), REQUEST_ID_KEY))

        # Streaming: one chunk per upstream event; the last one carries the usage.
        print("stream: ", end="")
        for chunk in client.chat.StreamChatCompletion(request, timeout=30):
            for choice in chunk.choices:
                print(choice.delta.content, end="", flush=True)
            if chunk.HasField("usage"):
                print(f"\nusage: {chunk.usage.total_tokens} tokens")


if __name__ == "__main__":
    main()
