# pgpilot: the entry points of the README, and the builds they share.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEMO_DIR ?= /tmp/pgpilot-demo
DEMO_PORT ?= 15432
# The unit and simulator tests again, built with g++ under AddressSanitizer and
# UndefinedBehaviorSanitizer (-O1, assertions on).
ASAN_BUILD_DIR ?= build-asan
# The libFuzzer targets of fuzz/ (clang++), each run FUZZ_SECONDS by `make fuzz`, FUZZ_JOBS at once.
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= $(JOBS)
FUZZ_TARGETS := agent_config store_codec http_api store_responses
SANITIZER_ENV := ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1 \
                 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# $(call timed,TARGET): `make TARGET`, then how long it took and whether it passed.
timed = start=$$(date +%s); $(MAKE) --no-print-directory $(1); rc=$$?; \
        echo "make test: $(1) $$([ $$rc = 0 ] && echo passed || echo FAILED) in $$(( $$(date +%s) - start )) s"; \
        exit $$rc

.PHONY: deps build check test unit-test integration-test sanitize-build sanitize-test \
        fuzz-build fuzz fuzz-seeds demo demo-down clean

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Every test: the normal build's suites, the sanitizer build's unit and simulator suites, and every
# fuzz target for FUZZ_SECONDS; each part says how long it took.
test:
	@$(call timed,check)
	@$(call timed,sanitize-test)
	@$(call timed,fuzz)

# The normal build and its ctest suites (unit, simulator, integration): what a developer runs.
check: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1800

unit-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit

integration-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L integration --timeout 1800

$(ASAN_BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD_DIR) -DCMAKE_BUILD_TYPE=Debug -DPGPILOT_SANITIZE=address,undefined

sanitize-build: deps $(ASAN_BUILD_DIR)/CMakeCache.txt
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS) --target pgpilot_unit_tests pgpilot-sim \
	    $(addprefix fuzz_replay_,$(FUZZ_TARGETS))

sanitize-test: sanitize-build
	cd $(ASAN_BUILD_DIR) && $(SANITIZER_ENV) ctest --output-on-failure -L 'unit|simulator' --timeout 1800

$(FUZZ_BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DPGPILOT_FUZZ=ON

fuzz-build: deps $(FUZZ_BUILD_DIR)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target fuzzers

# Replays fuzz/regressions/ and fuzz/corpus/, then fuzzes each target for FUZZ_SECONDS; fails on
# any crash, leak, undefined behaviour or hang, naming the input that caused it.
fuzz: fuzz-build
	@bash fuzz/run.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

# Rewrites fuzz/corpus/ from the project's own encoders (fuzz/seed_corpus.cc).
fuzz-seeds: build
	cmake --build $(BUILD_DIR) -j $(JOBS) --target fuzz_seed_corpus
	rm -rf fuzz/corpus && $(BUILD_DIR)/fuzz/fuzz_seed_corpus fuzz/corpus

demo: build
	$(BUILD_DIR)/pgpilot up --nodes 3 --dir $(DEMO_DIR) --base-port $(DEMO_PORT)

demo-down:
	$(BUILD_DIR)/pgpilot down --dir $(DEMO_DIR)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR) $(FUZZ_BUILD_DIR)
