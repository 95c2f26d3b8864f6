// Package proto holds the gRPC service an optimizer plugin serves
// (optimizer.proto) and its generated Go code. Regenerate with
// `go generate ./plugins/proto` (needs protoc, protoc-gen-go v1.36.12 and
// protoc-gen-go-grpc 1.5.1 on PATH).
package proto

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative optimizer.proto
