# Parley — build, run and test. Every target installs libzmq first when pkg-config cannot find it.
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
SWIFT_TEST_FLAGS ?=

.PHONY: run test build release deps bench clean

## Install the system packages Parley needs (libzmq with its pkg-config file) when they are missing.
deps:
	@if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists libzmq; then \
		echo "installing libzmq3-dev and pkg-config with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libzmq3-dev pkg-config >/dev/null; \
	fi
	@pkg-config --exists libzmq && echo "libzmq $$(pkg-config --modversion libzmq)"

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

## Every test: unit tests of each module and integration tests against the real executables.
test: deps
	swift build --build-tests
	swift test --skip-build $(SWIFT_TEST_FLAGS)

## Request/reply throughput and latency through the broker, next to a logic-free forwarder in the same run.
bench: deps
	swift build -c release --product parley-broker
	swift build -c release --product parley-bench
	.build/release/parley-bench

clean:
	rm -rf .build
