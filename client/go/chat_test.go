package gengate_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gengate "gengate/client/go"
	gengatev1 "gengate/proto/go/gengate/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func newClient(t *testing.T) *gengate.Client {
	t.Helper()
	client, err := gengate.New(target)
	if err != nil {
		t.Fatalf("gengate.New(%q): %v", target, err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func callContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func chatRequest(model, prompt string) *gengatev1.CreateChatCompletionRequest {
	return &gengatev1.CreateChatCompletionRequest{
		Model: model,
		Messages: []*gengatev1.ChatMessage{
			{Role: gengatev1.Role_ROLE_USER, Content: proto.String(prompt)},
		},
	}
}

func TestCreateChatCompletionEchoesThePrompt(t *testing.T) {
	client := newClient(t)
	completion, err := client.Chat.CreateChatCompletion(callContext(t),
		chatRequest("gpt-4o-mini", "Hello there"))
	if err != nil {
		t.Fatalf("CreateChatCompletion: %v", err)
	}
	if got := len(completion.GetChoices()); got != 1 {
		t.Fatalf("got %d choices, want 1", got)
	}
	choice := completion.GetChoices()[0]
	if got := choice.GetMessage().GetContent(); got != "Echo: Hello there" {
		t.Errorf("content = %q, want %q", got, "Echo: Hello there")
	}
	if got := choice.GetMessage().GetRole(); got != gengatev1.Role_ROLE_ASSISTANT {
		t.Errorf("role = %v, want ROLE_ASSISTANT", got)
	}
	if got := choice.GetFinishReason(); got != gengatev1.FinishReason_FINISH_REASON_STOP {
		t.Errorf("finish_reason = %v, want FINISH_REASON_STOP", got)
	}
	if got := completion.GetModel(); got != "gpt-4o-mini" {
		t.Errorf("model = %q, want gpt-4o-mini", got)
	}
	usage := completion.GetUsage()
	if usage.GetPromptTokens() != 2 || usage.GetCompletionTokens() != 3 || usage.GetTotalTokens() != 5 {
		t.Errorf("usage = %v, want 2 prompt + 3 completion = 5 tokens", usage)
	}
}

func TestStreamChatCompletionSendsChunksThenUsage(t *testing.T) {
	client := newClient(t)
	stream, err := client.Chat.StreamChatCompletion(callContext(t),
		chatRequest("gpt-4o-mini", "Hello there"))
	if err != nil {
		t.Fatalf("StreamChatCompletion: %v", err)
	}
	var chunks []*gengatev1.ChatCompletionChunk
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv after %d chunks: %v", len(chunks), err)
		}
		chunks = append(chunks, chunk)
	}
	if len(chunks) < 4 {
		t.Fatalf("got %d chunks, want the role, several content pieces, finish and usage", len(chunks))
	}
	var content strings.Builder
	contentChunks := 0
	for _, chunk := range chunks {
		for _, choice := range chunk.GetChoices() {
			if piece := choice.GetDelta().GetContent(); piece != "" {
				content.WriteString(piece)
				contentChunks++
			}
		}
	}
	if content.String() != "Echo: Hello there" || contentChunks < 3 {
		t.Errorf("content = %q in %d chunks, want %q in 3 or more", content.String(),
			contentChunks, "Echo: Hello there")
	}
	if got := chunks[0].GetChoices()[0].GetDelta().GetRole(); got != gengatev1.Role_ROLE_ASSISTANT {
		t.Errorf("first chunk's role = %v, want ROLE_ASSISTANT", got)
	}
	last := chunks[len(chunks)-1]
	if len(last.GetChoices()) != 0 || last.GetUsage().GetTotalTokens() != 5 {
		t.Errorf("last chunk = %v, want no choices and usage of 5 tokens", last)
	}
	beforeLast := chunks[len(chunks)-2].GetChoices()[0]
	if beforeLast.GetFinishReason() != gengatev1.FinishReason_FINISH_REASON_STOP {
		t.Errorf("chunk before usage = %v, want FINISH_REASON_STOP", beforeLast)
	}
	for i, chunk := range chunks[:len(chunks)-1] {
		if chunk.GetUsage() != nil {
			t.Errorf("chunk %d carries usage %v; only the last one should", i, chunk.GetUsage())
		}
	}
}

func TestCancelMidStreamEndsCancelled(t *testing.T) {
	client := newClient(t)
	ctx, cancel := context.WithCancel(callContext(t))
	defer cancel()
	// A long prompt makes a long echo: thousands of chunks, so the stream is still running
	// when the first one arrives.
	long := strings.TrimSpace(strings.Repeat("word ", 2000))
	stream, err := client.Chat.StreamChatCompletion(ctx, chatRequest("gpt-4o-mini", long))
	if err != nil {
		t.Fatalf("StreamChatCompletion: %v", err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first Recv: %v", err)
	}
	cancel()
	received := 1
	for {
		_, err = stream.Recv()
		if err != nil {
			break
		}
		received++
	}
	if got := status.Code(err); got != codes.Canceled {
		t.Fatalf("stream ended with %v after %d chunks, want Canceled", err, received)
	}
	if received >= 2003 {
		t.Errorf("received all %d chunks before the cancel took effect", received)
	}
}

func TestEmptyModelIsInvalidArgument(t *testing.T) {
	client := newClient(t)
	for _, call := range []struct {
		name string
		do   func(context.Context, *gengatev1.CreateChatCompletionRequest) error
	}{
		{"CreateChatCompletion", func(ctx context.Context, r *gengatev1.CreateChatCompletionRequest) error {
			_, err := client.Chat.CreateChatCompletion(ctx, r)
			return err
		}},
		{"StreamChatCompletion", func(ctx context.Context, r *gengatev1.CreateChatCompletionRequest) error {
			stream, err := client.Chat.StreamChatCompletion(ctx, r)
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}},
	} {
		t.Run(call.name, func(t *testing.T) {
			err := call.do(callContext(t), chatRequest("", "Hello there"))
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "model") {
				t.Fatalf("got %v, want InvalidArgument about the model", err)
			}
			// gengate's own validation never reached an upstream, so there is no upstream code.
			if info := gengate.ErrorInfo(err); info != nil {
				t.Errorf("ErrorInfo = %v, want none for a request gengate rejected itself", info)
			}
		})
	}
}

// The fake upstream answers a model named fake-error-<status> with that HTTP status.
func TestUpstreamErrorsMapToCodesWithErrorInfo(t *testing.T) {
	client := newClient(t)
	for _, tc := range []struct {
		httpStatus string
		code       codes.Code
		reason     string
		retryDelay time.Duration // 0: no RetryInfo
	}{
		{"400", codes.InvalidArgument, "invalid_request", 0},
		{"401", codes.Unauthenticated, "invalid_api_key", 0},
		{"403", codes.PermissionDenied, "permission_denied", 0},
		{"404", codes.NotFound, "model_not_found", 0},
		{"409", codes.Aborted, "conflict", 0},
		{"429", codes.ResourceExhausted, "rate_limit_exceeded", time.Second},
		{"500", codes.Internal, "server_error", 0},
		{"503", codes.Unavailable, "service_unavailable", time.Second},
		{"504", codes.DeadlineExceeded, "timeout", 0},
	} {
		t.Run(tc.httpStatus, func(t *testing.T) {
			model := "fake-error-" + tc.httpStatus
			requestID := "go-error-" + tc.httpStatus
			_, err := client.Chat.CreateChatCompletion(
				gengate.WithRequestID(callContext(t), requestID), chatRequest(model, "Hello there"))
			if got := status.Code(err); got != tc.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tc.code)
			}
			if !strings.Contains(status.Convert(err).Message(), model) {
				t.Errorf("message = %q, want the upstream's message naming %q",
					status.Convert(err).Message(), model)
			}
			info := gengate.ErrorInfo(err)
			if info == nil {
				t.Fatalf("no ErrorInfo in %v", status.Convert(err).Details())
			}
			if info.GetReason() != tc.reason || info.GetDomain() == "" ||
				info.GetMetadata()["http_status"] != tc.httpStatus ||
				info.GetMetadata()["upstream_request_id"] != requestID {
				t.Errorf("ErrorInfo = %v, want reason %q, a domain, http_status %s, upstream_request_id %s",
					info, tc.reason, tc.httpStatus, requestID)
			}
			delay, ok := gengate.RetryDelay(err)
			if tc.retryDelay == 0 && ok {
				t.Errorf("RetryDelay = %v, want none", delay)
			}
			if tc.retryDelay != 0 && (!ok || delay != tc.retryDelay) {
				t.Errorf("RetryDelay = %v, %v; want %v", delay, ok, tc.retryDelay)
			}
		})
	}
}

func TestRequestIDComesBackInMetadata(t *testing.T) {
	client := newClient(t)

	var header, trailer metadata.MD
	_, err := client.Chat.CreateChatCompletion(
		gengate.WithRequestID(callContext(t), "go-unary-id"), chatRequest("gpt-4o-mini", "Hi"),
		grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		t.Fatalf("CreateChatCompletion: %v", err)
	}
	if got := header.Get(gengate.RequestIDKey); len(got) != 1 || got[0] != "go-unary-id" {
		t.Errorf("header %s = %v, want [go-unary-id]", gengate.RequestIDKey, got)
	}
	// The fake upstream echoes X-Request-Id as its own request id.
	if got := trailer.Get(gengate.UpstreamRequestIDKey); len(got) != 1 || got[0] != "go-unary-id" {
		t.Errorf("trailer %s = %v, want [go-unary-id]", gengate.UpstreamRequestIDKey, got)
	}

	stream, err := client.Chat.StreamChatCompletion(
		gengate.WithRequestID(callContext(t), "go-stream-id"), chatRequest("gpt-4o-mini", "Hi"))
	if err != nil {
		t.Fatalf("StreamChatCompletion: %v", err)
	}
	streamHeader, err := stream.Header()
	if err != nil {
		t.Fatalf("stream.Header: %v", err)
	}
	if got := streamHeader.Get(gengate.RequestIDKey); len(got) != 1 || got[0] != "go-stream-id" {
		t.Errorf("stream header %s = %v, want [go-stream-id]", gengate.RequestIDKey, got)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if err != io.EOF {
				t.Fatalf("Recv: %v", err)
			}
			break
		}
	}
}

func TestRequestIDIsMadeWhenTheCallHasNone(t *testing.T) {
	client := newClient(t)
	ids := map[string]bool{}
	for range 2 {
		var header metadata.MD
		if _, err := client.Chat.CreateChatCompletion(callContext(t),
			chatRequest("gpt-4o-mini", "Hi"), grpc.Header(&header)); err != nil {
			t.Fatalf("CreateChatCompletion: %v", err)
		}
		got := header.Get(gengate.RequestIDKey)
		if len(got) != 1 || got[0] == "" {
			t.Fatalf("header %s = %v, want one id made by gengate", gengate.RequestIDKey, got)
		}
		ids[got[0]] = true
	}
	if len(ids) != 2 {
		t.Errorf("two calls got the same made-up request id: %v", ids)
	}
}

// The README's Go snippet is example/main.go; this runs it against the test server.
func TestExampleRunsAgainstGengate(t *testing.T) {
	binary := filepath.Join(t.TempDir(), "example")
	build := exec.Command("go", "build", "-o", binary, "./example")
	if output, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./example: %v\n%s", err, output)
	}
	run := exec.CommandContext(callContext(t), binary, "Hello", "from", "Go")
	run.Env = append(os.Environ(), "GENGATE_TARGET="+target)
	output, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("example failed: %v\n%s", err, output)
	}
	for _, want := range []string{
		"unary: Echo: Hello from Go\n",
		"request id: example-go\n",
		"stream: Echo: Hello from Go\n",
		"usage: 7 tokens\n",
	} {
		if !strings.Contains(string(output), want) {
			t.Errorf("example output lacks %q:\n%s", want, output)
		}
	}
}
