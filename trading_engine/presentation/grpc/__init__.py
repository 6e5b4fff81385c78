"""The gRPC API (grpc.aio): servicers that call the same use cases as the HTTP handlers,
interceptors for the call context (request id, auth, errors, the log line) and RED metrics, and
the server the container starts beside the HTTP one. The contract is ``proto/trading_engine/v1``;
its generated code is ``trading_engine/v1``."""
