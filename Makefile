# Build, test and benchmark the LRSGD lab. `make` builds every command and plugin into bin/.
GO      ?= go
BIN     ?= bin
PLUGINS := sgd lrsgd-r lrsgd-c adam-lr
CMDS    := train tune report

.PHONY: all cmds plugins manifest test vet bench proto clean

all: cmds plugins manifest

cmds:
	@mkdir -p $(BIN)
	$(foreach c,$(CMDS),$(GO) build -o $(BIN)/$(c) ./cmd/$(c) &&) true

plugins:
	@mkdir -p $(BIN)/plugins
	$(foreach p,$(PLUGINS),$(GO) build -o $(BIN)/plugins/$(p) ./plugins/$(p) &&) true

# manifest pins every plugin binary's sha256 (go-plugin SecureConfig reads it).
manifest: plugins
	cd $(BIN)/plugins && sha256sum $(PLUGINS) > MANIFEST

vet:
	$(GO) vet ./...

# test is the command the README and CI run.
test: vet
	$(GO) test -count=1 -timeout 20m ./...

bench:
	bash bench/run.sh

# proto regenerates the committed gRPC code (needs protoc, protoc-gen-go, protoc-gen-go-grpc).
proto:
	$(GO) generate ./plugins/proto

clean:
	rm -rf $(BIN)
