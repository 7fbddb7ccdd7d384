# pgpilot: the two entry points of the README, and the build they share.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEMO_DIR ?= /tmp/pgpilot-demo
DEMO_PORT ?= 15432

.PHONY: deps build test unit-test integration-test demo demo-down clean

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1800

unit-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit

integration-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L integration --timeout 1800

demo: build
	$(BUILD_DIR)/pgpilot up --nodes 3 --dir $(DEMO_DIR) --base-port $(DEMO_PORT)

demo-down:
	$(BUILD_DIR)/pgpilot down --dir $(DEMO_DIR)

clean:
	rm -rf $(BUILD_DIR)
