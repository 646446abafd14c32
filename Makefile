# One-command entry points. Each installs what is missing first.
JOBS ?= $(shell nproc)
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
# make install: where (the unit and /etc/modelgate/modelgate.yml go below DESTDIR too).
PREFIX ?= /usr/local
DESTDIR ?=
# make fuzz: seconds per target, and which targets (default: all of fuzz/targets.cmake).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

.PHONY: deps build test test-asan fuzz demo bench install clean

deps:
	./scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j 2

# The unit and integration tests of a whole build under ASan and UBSan (build-asan/, the "asan"
# preset of CMakePresets.json). Not part of `make test`: see docs/fuzzing.md for its cost.
test-asan: deps
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j 2

# libFuzzer targets with ASan/UBSan (docs/fuzzing.md), one at a time, FUZZ_SECONDS each.
fuzz: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) --target fuzz_targets
	fuzz/run.sh $(BUILD)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

demo: build
	$(BUILD)/modelgate demo

bench: build
	./bench/run.sh

# The binary, the systemd unit and an example configuration (cmake/install.cmake).
install: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target modelgate
	DESTDIR="$(if $(DESTDIR),$(abspath $(DESTDIR)))" cmake --install $(BUILD) --prefix "$(PREFIX)"

clean:
	rm -rf $(BUILD)
