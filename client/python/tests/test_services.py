"""ResponsesService, ImagesService and EmbeddingsService against the real gengate."""

import math
import unittest

import grpc

from gengate.v1 import embeddings_pb2, images_pb2, responses_pb2
from gengate_client import GengateClient
from gengate_server import GengateServer

_server = GengateServer()
_TIMEOUT_SECONDS = 30
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def setUpModule():
    _server.start()


def tearDownModule():
    code = _server.stop()
    if code != 0:
        raise AssertionError(f"gengate exited with {code} on SIGTERM")


class ServicesTest(unittest.TestCase):

    def setUp(self):
        self.client = GengateClient(_server.target)
        self.addCleanup(self.client.close)

    def test_create_response_echoes_the_input(self):
        response = self.client.responses.CreateResponse(
            responses_pb2.CreateResponseRequest(model="gpt-4o-mini", input_text="Hello there"),
            timeout=_TIMEOUT_SECONDS)
        self.assertEqual(response.output_text, "Echo: Hello there")
        self.assertEqual(response.status, responses_pb2.RESPONSE_STATUS_COMPLETED)
        self.assertEqual([item.type for item in response.output], ["message"])
        self.assertEqual((response.usage.input_tokens, response.usage.output_tokens,
                          response.usage.total_tokens), (2, 3, 5))

    def test_stream_response_sends_typed_events_in_order(self):
        events = list(self.client.responses.StreamResponse(
            responses_pb2.CreateResponseRequest(model="gpt-4o-mini", input_text="Hello there"),
            timeout=_TIMEOUT_SECONDS))
        self.assertEqual([event.sequence_number for event in events], list(range(len(events))))
        self.assertEqual(events[0].type, "response.created")
        deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
        self.assertEqual("".join(deltas), "Echo: Hello there")
        self.assertGreaterEqual(len(deltas), 3)
        last = events[-1]
        self.assertEqual(last.type, "response.completed")
        self.assertEqual(last.response.status, responses_pb2.RESPONSE_STATUS_COMPLETED)
        self.assertEqual(last.response.usage.total_tokens, 5)

    def test_generate_images_returns_png_bytes(self):
        images = self.client.images.GenerateImages(
            images_pb2.GenerateImagesRequest(
                model="gpt-image-1", prompt="a red square", n=2,
                response_format=images_pb2.IMAGE_RESPONSE_FORMAT_IMAGE_DATA),
            timeout=_TIMEOUT_SECONDS)
        self.assertEqual(len(images.data), 2)
        for image in images.data:
            self.assertTrue(image.image_data.startswith(_PNG_SIGNATURE), image.image_data[:8])
            self.assertEqual(image.revised_prompt, "A fake image of: a red square")

    def test_generate_images_as_urls(self):
        images = self.client.images.GenerateImages(
            images_pb2.GenerateImagesRequest(
                model="dall-e-3", prompt="a red square",
                response_format=images_pb2.IMAGE_RESPONSE_FORMAT_URL),
            timeout=_TIMEOUT_SECONDS)
        self.assertEqual(len(images.data), 1)
        self.assertTrue(images.data[0].url.startswith("https://"), images.data[0].url)
        self.assertEqual(images.data[0].image_data, b"")

    def test_edit_image_uploads_the_input_image(self):
        generated = self.client.images.GenerateImages(
            images_pb2.GenerateImagesRequest(model="gpt-image-1", prompt="a red square"),
            timeout=_TIMEOUT_SECONDS)
        edited = self.client.images.EditImage(
            images_pb2.EditImageRequest(
                model="gpt-image-1", prompt="make it blue",
                images=[images_pb2.InputImage(data=generated.data[0].image_data,
                                              filename="square.png", mime_type="image/png")]),
            timeout=_TIMEOUT_SECONDS)
        self.assertEqual(len(edited.data), 1)
        self.assertTrue(edited.data[0].image_data.startswith(_PNG_SIGNATURE))
        self.assertEqual(edited.data[0].revised_prompt, "A fake edit of 1 image: make it blue")

    def test_create_embeddings_returns_one_unit_vector_per_input(self):
        request = embeddings_pb2.CreateEmbeddingsRequest(
            model="text-embedding-3-small", input=["first text", "second text"], dimensions=8)
        embeddings = self.client.embeddings.CreateEmbeddings(request, timeout=_TIMEOUT_SECONDS)
        self.assertEqual([embedding.index for embedding in embeddings.data], [0, 1])
        for embedding in embeddings.data:
            self.assertEqual(len(embedding.embedding), 8)
            self.assertAlmostEqual(math.fsum(v * v for v in embedding.embedding), 1.0, places=4)
        self.assertNotEqual(list(embeddings.data[0].embedding), list(embeddings.data[1].embedding))
        self.assertEqual((embeddings.usage.prompt_tokens, embeddings.usage.total_tokens), (4, 4))
        again = self.client.embeddings.CreateEmbeddings(request, timeout=_TIMEOUT_SECONDS)
        self.assertEqual(again, embeddings)

    def test_new_services_reject_an_empty_model(self):
        calls = {
            "CreateResponse": lambda: self.client.responses.CreateResponse(
                responses_pb2.CreateResponseRequest(input_text="Hi"), timeout=_TIMEOUT_SECONDS),
            "GenerateImages": lambda: self.client.images.GenerateImages(
                images_pb2.GenerateImagesRequest(prompt="a cat"), timeout=_TIMEOUT_SECONDS),
            "CreateEmbeddings": lambda: self.client.embeddings.CreateEmbeddings(
                embeddings_pb2.CreateEmbeddingsRequest(input=["a"]), timeout=_TIMEOUT_SECONDS),
        }
        for name, call in calls.items():
            with self.subTest(name), self.assertRaises(grpc.RpcError) as raised:
                call()
            self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)


if __name__ == "__main__":
    unittest.main()
