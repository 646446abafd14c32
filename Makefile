# One-command entry points. Each installs what is missing first.
JOBS ?= $(shell nproc)
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo

.PHONY: deps build test demo bench clean

deps:
	./scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j 2

demo: build
	$(BUILD)/modelgate demo

bench: build
	./bench/run.sh

clean:
	rm -rf $(BUILD)
