# Thin wrappers around CMake/CTest. `make run` and `make test` work on a fresh Debian 12 machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?= -G Ninja -DGENGATE_WERROR=ON
LISTEN     ?= 127.0.0.1:50051
# Paths relative to the checkout, so ccache hits across clones (CI builds a fresh clone).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true
ADMIN      ?= 127.0.0.1:9090

.PHONY: all deps build test test-asan run lint clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_ARGS) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same tests built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_ARGS) -DCMAKE_BUILD_TYPE=Release -DGENGATE_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# Starts gengate on its built-in fake upstream: no key, no network.
run: build
	@echo "gengate on $(LISTEN) with the built-in fake upstream. Try, in another shell:"
	@echo "  $(BUILD)/client/gengate-cli --target=$(LISTEN) chat 'Hello there'"
	$(BUILD)/server/gengate --upstream_url=fake --listen=$(LISTEN) --admin_listen=$(ADMIN) --log_format=text

lint:
	npx --yes @bufbuild/buf lint proto

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# Renders the kustomize overlays and checks them and deploy/Dockerfile (no cluster needed).
.PHONY: deploy-check
deploy-check: build
	deploy/check.sh --binary $(BUILD)/server/gengate --tools-dir $(BUILD)/tools

# Benchmarks (bench/README.md): gengate against the mock upstream hit directly and through
# nginx, same load, same run. Prints a table, writes bench/results/<date>.json, fails only if
# calls failed. `bench-quick` is a ~1 minute smoke run of the same harness.
.PHONY: bench bench-quick bench-micro
bench: build
	@bench/install-deps.sh
	python3 bench/run_bench.py --build=$(BUILD)

bench-quick: build
	@bench/install-deps.sh
	python3 bench/run_bench.py --build=$(BUILD) --quick

# Google Benchmark over the hot paths (SSE parse, chat/responses event translate, unary chat
# translate, embeddings decode); in-process, no network.
bench-micro: build
	cmake --build $(BUILD) --target bench_micro -j $(JOBS)
	$(BUILD)/bench/micro/bench_micro
