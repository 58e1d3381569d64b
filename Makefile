# Thin wrapper over scripts/ and CMake. `make demo` and `make test` are the quick start.
BUILD_DIR ?= build
SANITIZE_BUILD_DIR ?= build-asan
JOBS ?= $(shell nproc)

.PHONY: all deps configure build test test-sanitize demo demo-model federation-demo clean

all: build

deps:
	@scripts/install-deps.sh

configure:
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: deps
	@$(MAKE) --no-print-directory build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

# The unit tests again under ASan+UBSan, in their own build directory (.ci/run runs it after test).
test-sanitize:
	@JOBS=$(JOBS) scripts/test-sanitize.sh $(SANITIZE_BUILD_DIR)

demo: deps
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh $(BUILD_DIR)

demo-model: deps
	@$(MAKE) --no-print-directory build
	@scripts/demo-model.sh $(BUILD_DIR)

# Three federated nodes on loopback serving one pool (configs/federation/, docs/federation.md).
federation-demo: deps
	@$(MAKE) --no-print-directory build
	@scripts/federation-demo.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_BUILD_DIR)
