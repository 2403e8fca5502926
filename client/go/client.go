// Package gengate is a small Go client for the gengate gRPC gateway: one connection with the
// stubs of every gengate.v1 service, and helpers for the request id and the error details
// gengate puts on failed calls.
//
// The gengate.v1 messages and stubs are generated, not committed: client/go/generate.sh OUT_DIR
// writes them and OUT_DIR/go.work, and `GOWORK=OUT_DIR/go.work go build ./...` builds this
// module against them.
package gengate

import (
	"context"
	"errors"
	"time"

	gengatev1 "gengate/proto/go/gengate/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// RequestIDKey is the metadata key gengate reads the caller's request id from and returns it
// under, in the initial metadata (it makes one when the call has none).
const RequestIDKey = "x-request-id"

// UpstreamRequestIDKey is the trailing metadata key that carries the upstream's own request id.
const UpstreamRequestIDKey = "x-upstream-request-id"

// Client holds one connection to gengate and a stub per service; it is safe for concurrent use.
type Client struct {
	conn       *grpc.ClientConn
	Chat       gengatev1.ChatServiceClient
	Responses  gengatev1.ResponsesServiceClient
	Images     gengatev1.ImagesServiceClient
	Embeddings gengatev1.EmbeddingsServiceClient
}

// New connects lazily to target ("host:port"). Without options the connection is plaintext,
// as on a laptop or inside a mesh that terminates TLS; pass grpc.WithTransportCredentials to
// change that.
func New(target string, opts ...grpc.DialOption) (*Client, error) {
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:       conn,
		Chat:       gengatev1.NewChatServiceClient(conn),
		Responses:  gengatev1.NewResponsesServiceClient(conn),
		Images:     gengatev1.NewImagesServiceClient(conn),
		Embeddings: gengatev1.NewEmbeddingsServiceClient(conn),
	}, nil
}

// Close closes the connection; calls in flight end with CANCELED.
func (c *Client) Close() error { return c.conn.Close() }

// WithRequestID returns a context whose calls carry id as x-request-id, so gengate's logs, the
// upstream request and the caller's own logs share one id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, RequestIDKey, id)
}

// ErrorInfo returns the google.rpc.ErrorInfo of a failed call: Reason is the upstream's error
// code, Domain the upstream host, Metadata holds http_status and upstream_request_id. It is nil
// when err is not a gRPC status or has no ErrorInfo (gengate's own validation errors have none).
func ErrorInfo(err error) *errdetails.ErrorInfo {
	for _, detail := range statusDetails(err) {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// RetryDelay returns how long the upstream asked the caller to wait (google.rpc.RetryInfo, on
// RESOURCE_EXHAUSTED and UNAVAILABLE), and false when it gave no delay.
func RetryDelay(err error) (time.Duration, bool) {
	for _, detail := range statusDetails(err) {
		if info, ok := detail.(*errdetails.RetryInfo); ok && info.GetRetryDelay() != nil {
			return info.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

func statusDetails(err error) []any {
	var withStatus interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &withStatus) {
		return nil
	}
	return withStatus.GRPCStatus().Details()
}
