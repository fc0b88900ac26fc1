# Wraps CMake. `make` builds build/kproxy; `make test` installs dependencies if missing, builds
# and runs every test; `make asan-test` runs the unit tests under AddressSanitizer and UBSan;
# `make bench` runs the benchmarks that need no root (sync_bench and watch_latency.sh do);
# `make fuzz` builds the libFuzzer targets with clang and runs each FUZZ_SECONDS (scripts/fuzz.sh).
JOBS ?= 2
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SEED ?=

.PHONY: all deps configure test unit-test root-test vm-test vm-bench asan-test fuzz bench soak clean demo

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	./scripts/install-deps.sh

configure: deps
	@[ -f $(BUILD)/CMakeCache.txt ] || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L 'unit|root|vm'

unit-test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

root-test: all
	cd $(BUILD) && ctest --output-on-failure -L root

vm-test: all
	cd $(BUILD) && ctest --output-on-failure -L vm

# The IPVS benchmarks, in the VM (this kernel has no IPVS): bench/ipvs_bench.cpp and kproxy bench.
vm-bench: all
	VM_TIMEOUT=1800 VM_MEMORY=4096 ./tests/vm/run_vm.sh $(BUILD) ipvs_bench,kproxy_bench_ipvs

asan-test: deps
	@[ -f $(ASAN_BUILD)/CMakeCache.txt ] || cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKPROXY_SANITIZE=ON -DKPROXY_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target kproxy_unit_tests kproxy
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

fuzz: deps
	@[ -f $(FUZZ_BUILD)/CMakeCache.txt ] || CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKPROXY_FUZZ=ON -DKPROXY_BENCH=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	FUZZ_SEED=$(FUZZ_SEED) ./scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: all
	$(BUILD)/render_bench
	$(BUILD)/watch_bench
	$(BUILD)/memory_bench

# 30 minutes of endpoint churn against a live daemon (root): RSS, fds and sync times over time.
SOAK_SECONDS ?= 1800
soak: all
	./bench/soak.sh $(BUILD) --seconds $(SOAK_SECONDS)

demo: all
	./scripts/demo.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
