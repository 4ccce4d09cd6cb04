# Parley — build, run and test. Every target builds the patched libzmq first (deps/libzmq) when it is missing.
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
SWIFT_TEST_FLAGS ?=
# The patched libzmq deps/libzmq/build.sh installs, ahead of any system libzmq.
export PKG_CONFIG_PATH := $(CURDIR)/.deps/libzmq/lib/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))

.PHONY: run test build release deps bench clean verify-units run-configs image

## Build the libzmq Parley links (Debian's 4.3.4 with Parley's io-error guard, deps/libzmq/build.sh) into .deps/,
## installing what that needs with apt-get; every target below links it through PKG_CONFIG_PATH.
deps:
	@deps/libzmq/build.sh
	@echo "libzmq $$(pkg-config --modversion libzmq) from $$(pkg-config --variable=prefix libzmq)"

build: deps
	swift build

release: deps
	swift build -c release --product parley-broker
	swift build -c release --product parley-gateway
	swift build -c release --product parley

## Start the broker (agents tcp://127.0.0.1:7410, events :7411) and the gateway (:7420, deploy/policy.yaml,
## audit to stdout) on their embedded development defaults, loopback only. Ctrl-C stops both.
run: release
	@trap 'kill $$broker $$gateway 2>/dev/null; wait' INT TERM EXIT; \
	.build/release/parley-broker & broker=$$!; \
	.build/release/parley-gateway --policy deploy/policy.yaml & gateway=$$!; \
	wait

## Every test: unit tests of each module and integration tests against the real executables (Swift Testing),
## the Python client's tests against the real broker and gateway (pytest; the console's browser tests need chromium and chromium-driver, which
## clients/python/run-tests.sh installs with apt-get when missing), a short chaos run, and every benchmark
## scenario briefly on the debug build (a smoke test: it fails on errors and lost events, never on figures).
test: deps
	swift build --build-tests
	swift test --skip-build $(SWIFT_TEST_FLAGS)
	PARLEY_BUILD_DIR="$$(swift build --show-bin-path)" clients/python/run-tests.sh -q
	"$$(swift build --show-bin-path)/parley-chaos" run --quick $(CHAOS_FLAGS)
	"$$(swift build --show-bin-path)/parley-bench" --quick

## Request/reply throughput and latency through the broker, next to a logic-free forwarder in the same run.
bench: deps
	swift build -c release --product parley-broker
	swift build -c release --product parley-gateway
	swift build -c release --product parley-bench
	.build/release/parley-bench

## Every benchmark scenario briefly (a smoke test, not a measurement).
bench-quick: deps
	swift build -c release --product parley-broker
	swift build -c release --product parley-gateway
	swift build -c release --product parley-bench
	.build/release/parley-bench --quick

## Check deploy/systemd/*.service with `systemd-analyze verify` (installs systemd's tools when missing).
verify-units: deps
	@command -v systemd-analyze >/dev/null 2>&1 || { echo "installing systemd (for systemd-analyze) with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq systemd >/dev/null; }
	swift build --product parley-broker
	swift build --product parley-gateway
	deploy/verify-units.sh .build/debug

## Like `run`, but from the example configs in deploy/ (metrics on 127.0.0.1:9410 and :9420). Ctrl-C stops both.
run-configs: release
	@trap 'kill $$broker $$gateway 2>/dev/null; wait' INT TERM EXIT; \
	.build/release/parley-broker --config deploy/broker.yaml & broker=$$!; \
	.build/release/parley-gateway --config deploy/gateway.yaml & gateway=$$!; \
	wait

## The container image of deploy/Dockerfile (needs a Docker engine; none runs on the development machines).
image:
	docker build -f deploy/Dockerfile -t parley:dev .

clean:
	rm -rf .build

## Chaos: agents exchange requests and events for real while the harness kills (-9), pauses (SIGSTOP) and
## restarts agents, the gateway and the broker on a seeded schedule; then it checks that no request was lost
## and every confirmed event was delivered or named in a GAP. CHAOS_FLAGS="--seed N" repeats a run.
.PHONY: chaos chaos-quick
CHAOS_FLAGS ?=
chaos: deps
	swift build --product parley-broker
	swift build --product parley-gateway
	swift build --product parley-chaos
	.build/debug/parley-chaos run --duration 90 $(CHAOS_FLAGS)

## The short chaos run (~15 s of traffic, every fault kind once or more), for `make test`.
chaos-quick: deps
	swift build --product parley-broker
	swift build --product parley-gateway
	swift build --product parley-chaos
	.build/debug/parley-chaos run --quick $(CHAOS_FLAGS)

## Fuzzing with libFuzzer and AddressSanitizer: the wire decoder, and the broker core fed with decoded commands
## (checking its exactly-once, routing, de-duplication and event invariants after every step). Each target runs
## FUZZ_SECONDS (default 300) from the seed corpus in fuzz/corpus; a crash or broken invariant fails the target
## and leaves the input in .build/fuzz/artifacts/<target>/. fuzz/README.md explains how to replay one.
.PHONY: fuzz fuzz-build fuzz-decoder fuzz-core fuzz-seeds fuzz-merge test-tsan test-asan
FUZZ_SECONDS ?= 300
fuzz: fuzz-decoder fuzz-core

fuzz-build:
	fuzz/build.sh

fuzz-decoder: fuzz-build
	fuzz/run.sh decoder $(FUZZ_SECONDS)

fuzz-core: fuzz-build
	fuzz/run.sh core $(FUZZ_SECONDS)

## Rewrites the hand-made seeds in fuzz/corpus from the encoder (after a protocol or script-language change).
fuzz-seeds: fuzz-build
	FUZZ_WRITE_SEEDS=fuzz/corpus/decoder .build/fuzz/fuzz-decoder
	FUZZ_WRITE_SEEDS=fuzz/corpus/core .build/fuzz/fuzz-core

## Adds the inputs of the working corpora (.build/fuzz/corpus) that reach new coverage to fuzz/corpus.
fuzz-merge: fuzz-build
	SWIFT_BACKTRACE=enable=no .build/fuzz/fuzz-decoder -merge=1 fuzz/corpus/decoder .build/fuzz/corpus/decoder
	SWIFT_BACKTRACE=enable=no .build/fuzz/fuzz-core -merge=1 fuzz/corpus/core .build/fuzz/corpus/core

## The whole test suite under ThreadSanitizer / AddressSanitizer, each built in its own scratch path
## (.build-tsan, .build-asan); fails on a failed test or on any sanitizer report (see fuzz/sanitizers/).
test-tsan: deps
	fuzz/sanitizers/test.sh thread $(SWIFT_TEST_FLAGS)

test-asan: deps
	fuzz/sanitizers/test.sh address $(SWIFT_TEST_FLAGS)
