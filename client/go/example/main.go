// Asks gengate for one chat completion and then streams another, printing the answers.
//
//	GENGATE_TARGET=127.0.0.1:50051 go run ./example "Hello there"
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	gengate "gengate/client/go"
	gengatev1 "gengate/proto/go/gengate/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

func main() {
	target := os.Getenv("GENGATE_TARGET")
	if target == "" {
		target = "127.0.0.1:50051"
	}
	prompt := "Hello there"
	if len(os.Args) > 1 {
		prompt = strings.Join(os.Args[1:], " ")
	}

	client, err := gengate.New(target)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	request := &gengatev1.CreateChatCompletionRequest{
		Model: "gpt-4o-mini",
		Messages: []*gengatev1.ChatMessage{
			{Role: gengatev1.Role_ROLE_USER, Content: proto.String(prompt)},
		},
	}

	// Unary: the whole answer at once; the header carries the request id gengate used.
	var header metadata.MD
	completion, err := client.Chat.CreateChatCompletion(
		gengate.WithRequestID(ctx, "example-go"), request, grpc.Header(&header))
	if err != nil {
		log.Fatalf("CreateChatCompletion: %v", err)
	}
	fmt.Printf("unary: %s\n", completion.GetChoices()[0].GetMessage().GetContent())
	fmt.Printf("request id: %s\n", strings.Join(header.Get(gengate.RequestIDKey), ","))

	// Streaming: one chunk per upstream event; the last one carries the usage.
	stream, err := client.Chat.StreamChatCompletion(ctx, request)
	if err != nil {
		log.Fatalf("StreamChatCompletion: %v", err)
	}
	fmt.Print("stream: ")
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatalf("StreamChatCompletion: %v", err)
		}
		for _, choice := range chunk.GetChoices() {
			fmt.Print(choice.GetDelta().GetContent())
		}
		if usage := chunk.GetUsage(); usage != nil {
			fmt.Printf("\nusage: %d tokens\n", usage.GetTotalTokens())
		}
	}
}
