package gengate_test

import (
	"bytes"
	"io"
	"math"
	"strings"
	"testing"

	gengatev1 "gengate/proto/go/gengate/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The eight bytes every PNG file starts with.
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

func TestCreateResponseEchoesTheInput(t *testing.T) {
	client := newClient(t)
	response, err := client.Responses.CreateResponse(callContext(t), &gengatev1.CreateResponseRequest{
		Model:     "gpt-4o-mini",
		InputText: proto.String("Hello there"),
	})
	if err != nil {
		t.Fatalf("CreateResponse: %v", err)
	}
	if got := response.GetOutputText(); got != "Echo: Hello there" {
		t.Errorf("output_text = %q, want %q", got, "Echo: Hello there")
	}
	if got := response.GetStatus(); got != gengatev1.ResponseStatus_RESPONSE_STATUS_COMPLETED {
		t.Errorf("status = %v, want RESPONSE_STATUS_COMPLETED", got)
	}
	if len(response.GetOutput()) != 1 || response.GetOutput()[0].GetType() != "message" {
		t.Errorf("output = %v, want one message item", response.GetOutput())
	}
	if usage := response.GetUsage(); usage.GetInputTokens() != 2 || usage.GetOutputTokens() != 3 ||
		usage.GetTotalTokens() != 5 {
		t.Errorf("usage = %v, want 2 input + 3 output = 5 tokens", usage)
	}
}

func TestStreamResponseSendsTypedEventsInOrder(t *testing.T) {
	client := newClient(t)
	stream, err := client.Responses.StreamResponse(callContext(t), &gengatev1.CreateResponseRequest{
		Model:     "gpt-4o-mini",
		InputText: proto.String("Hello there"),
	})
	if err != nil {
		t.Fatalf("StreamResponse: %v", err)
	}
	var events []*gengatev1.ResponseEvent
	for {
		event, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv after %d events: %v", len(events), err)
		}
		events = append(events, event)
	}
	if len(events) < 4 {
		t.Fatalf("got %d events, want created, deltas and completed", len(events))
	}
	var text strings.Builder
	for i, event := range events {
		if event.GetSequenceNumber() != int64(i) {
			t.Errorf("event %d has sequence_number %d", i, event.GetSequenceNumber())
		}
		if event.GetType() == "response.output_text.delta" {
			text.WriteString(event.GetDelta())
		}
	}
	if text.String() != "Echo: Hello there" {
		t.Errorf("deltas join to %q, want %q", text.String(), "Echo: Hello there")
	}
	if got := events[0].GetType(); got != "response.created" {
		t.Errorf("first event = %q, want response.created", got)
	}
	last := events[len(events)-1]
	if last.GetType() != "response.completed" ||
		last.GetResponse().GetStatus() != gengatev1.ResponseStatus_RESPONSE_STATUS_COMPLETED ||
		last.GetResponse().GetUsage().GetTotalTokens() != 5 {
		t.Errorf("last event = %v, want response.completed with usage of 5 tokens", last)
	}
}

func TestGenerateImagesReturnsPngBytes(t *testing.T) {
	client := newClient(t)
	images, err := client.Images.GenerateImages(callContext(t), &gengatev1.GenerateImagesRequest{
		Model:          "gpt-image-1",
		Prompt:         "a red square",
		N:              proto.Int32(2),
		ResponseFormat: gengatev1.ImageResponseFormat_IMAGE_RESPONSE_FORMAT_IMAGE_DATA,
	})
	if err != nil {
		t.Fatalf("GenerateImages: %v", err)
	}
	if len(images.GetData()) != 2 {
		t.Fatalf("got %d images, want 2", len(images.GetData()))
	}
	for i, image := range images.GetData() {
		if !bytes.HasPrefix(image.GetImageData(), pngSignature) {
			t.Errorf("image %d is not a PNG: % x", i, image.GetImageData()[:min(8, len(image.GetImageData()))])
		}
		if got := image.GetRevisedPrompt(); got != "A fake image of: a red square" {
			t.Errorf("image %d revised_prompt = %q", i, got)
		}
	}
}

func TestGenerateImagesAsUrls(t *testing.T) {
	client := newClient(t)
	images, err := client.Images.GenerateImages(callContext(t), &gengatev1.GenerateImagesRequest{
		Model:          "dall-e-3",
		Prompt:         "a red square",
		ResponseFormat: gengatev1.ImageResponseFormat_IMAGE_RESPONSE_FORMAT_URL,
	})
	if err != nil {
		t.Fatalf("GenerateImages: %v", err)
	}
	if len(images.GetData()) != 1 || !strings.HasPrefix(images.GetData()[0].GetUrl(), "https://") ||
		len(images.GetData()[0].GetImageData()) != 0 {
		t.Errorf("data = %v, want one image given by an https URL", images.GetData())
	}
}

func TestEditImageUploadsTheInputImage(t *testing.T) {
	client := newClient(t)
	generated, err := client.Images.GenerateImages(callContext(t), &gengatev1.GenerateImagesRequest{
		Model:  "gpt-image-1",
		Prompt: "a red square",
	})
	if err != nil || len(generated.GetData()) != 1 {
		t.Fatalf("GenerateImages: %v, %v", generated, err)
	}
	edited, err := client.Images.EditImage(callContext(t), &gengatev1.EditImageRequest{
		Model:  "gpt-image-1",
		Prompt: "make it blue",
		Images: []*gengatev1.InputImage{{
			Source:   &gengatev1.InputImage_Data{Data: generated.GetData()[0].GetImageData()},
			Filename: "square.png",
			MimeType: "image/png",
		}},
	})
	if err != nil {
		t.Fatalf("EditImage: %v", err)
	}
	if len(edited.GetData()) != 1 || !bytes.HasPrefix(edited.GetData()[0].GetImageData(), pngSignature) {
		t.Fatalf("data = %v, want one PNG", edited.GetData())
	}
	if got := edited.GetData()[0].GetRevisedPrompt(); got != "A fake edit of 1 image: make it blue" {
		t.Errorf("revised_prompt = %q", got)
	}
}

func TestCreateEmbeddingsReturnsOneUnitVectorPerInput(t *testing.T) {
	client := newClient(t)
	request := &gengatev1.CreateEmbeddingsRequest{
		Model:      "text-embedding-3-small",
		Input:      []string{"first text", "second text"},
		Dimensions: proto.Int32(8),
	}
	embeddings, err := client.Embeddings.CreateEmbeddings(callContext(t), request)
	if err != nil {
		t.Fatalf("CreateEmbeddings: %v", err)
	}
	if len(embeddings.GetData()) != 2 {
		t.Fatalf("got %d vectors, want 2", len(embeddings.GetData()))
	}
	for i, embedding := range embeddings.GetData() {
		if embedding.GetIndex() != int32(i) || len(embedding.GetEmbedding()) != 8 {
			t.Errorf("vector %d: index %d, %d dimensions; want index %d, 8 dimensions", i,
				embedding.GetIndex(), len(embedding.GetEmbedding()), i)
		}
		var normSquared float64
		for _, value := range embedding.GetEmbedding() {
			normSquared += float64(value) * float64(value)
		}
		if math.Abs(normSquared-1) > 1e-4 {
			t.Errorf("vector %d has norm² %v, want a unit vector", i, normSquared)
		}
	}
	if proto.Equal(embeddings.GetData()[0], embeddings.GetData()[1]) {
		t.Errorf("different texts got the same vector")
	}
	if usage := embeddings.GetUsage(); usage.GetPromptTokens() != 4 || usage.GetTotalTokens() != 4 {
		t.Errorf("usage = %v, want 4 tokens", usage)
	}
	again, err := client.Embeddings.CreateEmbeddings(callContext(t), request)
	if err != nil || !proto.Equal(again, embeddings) {
		t.Errorf("the same input gave %v (%v), want the same vectors", again, err)
	}
}

func TestNewServicesRejectAnEmptyModel(t *testing.T) {
	client := newClient(t)
	ctx := callContext(t)
	_, responseErr := client.Responses.CreateResponse(ctx,
		&gengatev1.CreateResponseRequest{InputText: proto.String("Hi")})
	_, imagesErr := client.Images.GenerateImages(ctx, &gengatev1.GenerateImagesRequest{Prompt: "a cat"})
	_, embeddingsErr := client.Embeddings.CreateEmbeddings(ctx,
		&gengatev1.CreateEmbeddingsRequest{Input: []string{"a"}})
	for name, err := range map[string]error{
		"CreateResponse": responseErr, "GenerateImages": imagesErr, "CreateEmbeddings": embeddingsErr,
	} {
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s without a model: %v, want InvalidArgument", name, err)
		}
	}
}
