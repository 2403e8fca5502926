'use strict';
// A small Node.js client for the gengate gRPC gateway: the gengate.v1 stubs, loaded at run time
// from proto/gengate/v1 with @grpc/proto-loader (no generated code), a promise wrapper for
// unary calls, and helpers for the request id and the error details gengate puts on failures.

const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

// The repository's proto/ directory; override with GENGATE_PROTO_DIR when this file is copied.
const PROTO_DIR = process.env.GENGATE_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');
const SERVICE_PROTOS = [
  'gengate/v1/chat.proto',
  'gengate/v1/responses.proto',
  'gengate/v1/images.proto',
  'gengate/v1/embeddings.proto',
];

// The metadata key gengate reads the caller's request id from, and returns it under in the
// initial metadata (it makes one when the call has none).
const REQUEST_ID_KEY = 'x-request-id';
// The trailing metadata key that carries the upstream's own request id.
const UPSTREAM_REQUEST_ID_KEY = 'x-upstream-request-id';
// Where gRPC carries the google.rpc.Status with the error details.
const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

// Field names as in the .proto (snake_case, the OpenAI spelling), enums as their names,
// int64 as numbers (unix times and counts fit), unset `optional` fields left out.
const LOADER_OPTIONS = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

const packageDefinition = protoLoader.loadSync(SERVICE_PROTOS, LOADER_OPTIONS);
// The gengate.v1 namespace: service constructors, and message types for enum lookups.
const gengateV1 = grpc.loadPackageDefinition(packageDefinition).gengate.v1;

// google.rpc.Status and its details, to decode grpc-status-details-bin.
const rpcRoot = new protobuf.Root();
rpcRoot.resolvePath = (_origin, target) =>
  path.isAbsolute(target) ? target : path.join(PROTO_DIR, target);
rpcRoot.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
const RpcStatus = rpcRoot.lookupType('google.rpc.Status');
const DETAIL_TYPES = {
  'type.googleapis.com/google.rpc.ErrorInfo': rpcRoot.lookupType('google.rpc.ErrorInfo'),
  'type.googleapis.com/google.rpc.RetryInfo': rpcRoot.lookupType('google.rpc.RetryInfo'),
};

// One channel to gengate with a stub per service. Plaintext by default, as on a laptop or
// inside a mesh that terminates TLS; pass grpc.credentials.createSsl() to change that.
function createClient(target, credentials = grpc.credentials.createInsecure(), options = {}) {
  const chat = new gengateV1.ChatService(target, credentials, options);
  // The other stubs share the first one's channel.
  const shared = { channelOverride: chat.getChannel() };
  return {
    chat,
    responses: new gengateV1.ResponsesService(target, credentials, shared),
    images: new gengateV1.ImagesService(target, credentials, shared),
    embeddings: new gengateV1.EmbeddingsService(target, credentials, shared),
    close() {
      chat.close();
    },
  };
}

// Calls a unary RPC and resolves to {response, metadata, trailers}; rejects with the grpc-js
// error (code, details, metadata). `options.metadata` is a grpc.Metadata, `options.deadline`
// a Date or milliseconds since the epoch.
function callUnary(stub, method, request, options = {}) {
  return new Promise((resolve, reject) => {
    let metadata = new grpc.Metadata();
    let outcome = null;
    const callOptions = options.deadline ? { deadline: options.deadline } : {};
    const call = stub[method](request, options.metadata || new grpc.Metadata(), callOptions,
      (error, response) => { outcome = { error, response }; });
    call.on('metadata', (received) => { metadata = received; });
    // grpc-js runs the callback first and emits 'status' (with the trailers) right after it.
    call.on('status', (status) => {
      if (outcome.error) reject(outcome.error);
      else resolve({ response: outcome.response, metadata, trailers: status.metadata });
    });
  });
}

// Call metadata that gives the call `requestId`, shared by gengate's and the upstream's logs.
function requestIdMetadata(requestId) {
  const metadata = new grpc.Metadata();
  metadata.set(REQUEST_ID_KEY, requestId);
  return metadata;
}

// The decoded details of a failed call: [{typeUrl, message}] for the detail types known here.
function statusDetails(error) {
  const raw = error && error.metadata ? error.metadata.get(STATUS_DETAILS_KEY) : [];
  if (raw.length === 0) return [];
  const status = RpcStatus.decode(raw[0]);
  return status.details
    .filter((any) => DETAIL_TYPES[any.type_url] !== undefined)
    .map((any) => ({
      typeUrl: any.type_url,
      message: DETAIL_TYPES[any.type_url].toObject(DETAIL_TYPES[any.type_url].decode(any.value),
        { longs: Number, defaults: true }),
    }));
}

// The google.rpc.ErrorInfo of a failed call as {reason, domain, metadata}, or null. `reason`
// is the upstream's error code, `domain` the upstream host, and `metadata` holds http_status
// and upstream_request_id. gengate's own validation errors have none.
function errorInfo(error) {
  const detail = statusDetails(error).find((d) => d.typeUrl.endsWith('/google.rpc.ErrorInfo'));
  return detail ? detail.message : null;
}

// How long the upstream asked the caller to wait (google.rpc.RetryInfo), in milliseconds, or
// null when it gave no delay.
function retryDelayMs(error) {
  const detail = statusDetails(error).find((d) => d.typeUrl.endsWith('/google.rpc.RetryInfo'));
  if (!detail || !detail.message.retry_delay) return null;
  const { seconds, nanos } = detail.message.retry_delay;
  return Number(seconds) * 1000 + Math.round(Number(nanos) / 1e6);
}

module.exports = {
  grpc,
  gengateV1,
  createClient,
  callUnary,
  requestIdMetadata,
  errorInfo,
  retryDelayMs,
  REQUEST_ID_KEY,
  UPSTREAM_REQUEST_ID_KEY,
};
