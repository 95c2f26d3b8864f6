# Build, test and benchmark the LRSGD lab. `make` builds every command and plugin into bin/.
GO      ?= go
BIN     ?= bin
PLUGINS := sgd lrsgd-r lrsgd-c adam-lr
CMDS    := train tune report

.PHONY: all cmds plugins manifest test vet bench proto clean

all: cmds plugins manifest

# The commands record the commit they were built from in every trial's run
# metadata (the checkout's HEAD, +dirty when it has uncommitted changes).
# Outside a git checkout nothing is stamped and the commands fall back to
# the build settings.
COMMIT  := $(shell c=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD -- 2>/dev/null || c="$$c+dirty"; echo "$$c"; })
LDFLAGS := -X github.com/lrsgd-lab/lrsgd/search/record.buildCommit=$(COMMIT)

cmds:
	@mkdir -p $(BIN)
	$(foreach c,$(CMDS),$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/$(c) ./cmd/$(c) &&) true

plugins:
	@mkdir -p $(BIN)/plugins
	$(foreach p,$(PLUGINS),$(GO) build -o $(BIN)/plugins/$(p) ./plugins/$(p) &&) true

# manifest pins the sha256 of every shipped plugin (PLUGINS) in
# $(BIN)/plugins/MANIFEST, which the loader and go-plugin's SecureConfig
# check. It rewrites only the lines of the shipped plugins: the pins a user
# added for other plugins (`sha256sum NAME >> MANIFEST`) and comments stay.
manifest: plugins
	cd $(BIN)/plugins && { \
	  if [ -f MANIFEST ]; then \
	    awk -v shipped="$(PLUGINS)" 'BEGIN { n = split(shipped, s, " "); for (i = 1; i <= n; i++) skip[s[i]] = 1 } \
	      /^[[:space:]]*(#|$$)/ { print; next } \
	      { name = $$2; sub(/^\*/, "", name); sub(/.*\//, "", name); if (!(name in skip)) print }' MANIFEST; \
	  fi; \
	  sha256sum $(PLUGINS); \
	} > MANIFEST.new && mv MANIFEST.new MANIFEST

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
