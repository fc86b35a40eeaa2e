# Thin wrapper over CMake. `make demo` and `make test` are the two commands
# the README promises; both install missing Debian packages first.
BUILD ?= build
MAKEFLAGS += --no-print-directory
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test asan tsan fuzz bench clean

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@$(BUILD)/yoloc demo

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# Sanitizer builds (separate build folders).
asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYOLOC_SANITIZE=address >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYOLOC_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && ctest --output-on-failure -j $(JOBS) -L tsan $(CTEST_ARGS)

# libFuzzer builds of every parser (clang); run e.g. build-fuzz/fuzz_json -max_total_time=60
fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DYOLOC_FUZZ=ON -DYOLOC_NATIVE=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS) $(patsubst tests/fuzz/%.c,--target %,$(wildcard tests/fuzz/fuzz_*.c))

bench: build
	@cmake --build $(BUILD) -j $(JOBS) --target bench_model

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
