# macx -- the two commands of the quick start, and a few more.
#   make pilot   install what is missing, build, run the default pilot
#   make test    install what is missing, build, run the whole test suite
#   make install macx and its man pages into PREFIX (default /usr/local)
# Variables: BUILD (build dir), WERROR=1 (warnings are errors), JOBS, V=1 (show
# every command CMake runs; quiet by default), PREFIX, DESTDIR.

BUILD ?= build
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
# python3 and procps (pgrep) are used by the integration tests only.
DEBS  := cmake make gcc pkg-config libzmq3-dev libczmq-dev libsodium-dev liblmdb-dev \
         lmdb-utils libprotobuf-c-dev protobuf-c-compiler libcmocka-dev libfyaml-dev \
         python3 procps $(EXTRA_DEBS)
# Every setting is given each time, so that what a build directory was
# configured with is exactly what was asked for last (a cached WERROR=ON
# does not outlive the make that asked for it).
CMAKE_FLAGS ?=
CMAKE_FLAGS += -DMACX_WERROR=$(if $(filter 1,$(WERROR)),ON,OFF) \
               -DCMAKE_RULE_MESSAGES=$(if $(filter 1,$(V)),ON,OFF) \
               -DCMAKE_TARGET_MESSAGES=$(if $(filter 1,$(V)),ON,OFF)
BUILD_FLAGS := $(if $(filter 1,$(V)),--verbose,)
MAKEFLAGS   += --no-print-directory

PREFIX ?= /usr/local

.PHONY: all deps build test pilot install asan fuzz bench bench-peers bench-sweep level-share soak clean

all: build

# Installs missing Debian packages (root), or prints the command to run.
deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "macx: installing$$missing" >&2; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "macx: missing Debian packages; run:" >&2; \
	    echo "  sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi

# configure DIR FLAGS...: runs CMake on DIR only when it was not configured
# with exactly these flags (CMake reconfigures by itself when a CMakeLists.txt
# changes). A new directory is configured twice: CMake 3.25 writes the
# -isystem that libzmq's pkg-config flags carry as an include directory the
# first time and as a compile option every time after, so without this the
# next configure would rewrite every compile line and recompile everything.
define configure
	@want='$(strip $(2))'; \
	if [ ! -f $(1)/CMakeCache.txt ]; then cmake -S . -B $(1) $(2) >/dev/null || exit 1; fi; \
	if [ "$$(cat $(1)/.macx-configured 2>/dev/null)" != "$$want" ]; then \
	  cmake -S . -B $(1) $(2) >/dev/null && printf '%s\n' "$$want" > $(1)/.macx-configured; \
	fi
endef

build: deps
	@echo "macx: building in $(BUILD)/ (V=1 shows every command)" >&2
	$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS))
	@cmake --build $(BUILD) -j$(JOBS) $(BUILD_FLAGS)

# The report's rendering test (tests/integration/report_render.sh) measures
# report.html in headless chromium, and the Slurm executor's test
# (pilot_sweep_slurm.sh) brings up a single-node Slurm: the tests' build and
# deps install them too.
test: DEBS += chromium slurmctld slurmd slurm-client munge
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

pilot: build
	@if $(BUILD)/cli/macx pilot --help >/dev/null 2>&1; then \
	  $(BUILD)/cli/macx pilot run scenarios/baseline/pilot.yaml --out out/baseline; \
	else \
	  $(BUILD)/cli/macx --version && rm -rf demo/keys && \
	  $(BUILD)/cli/macx keys init demo/keys --agency broker:broker --agency mi5:mi5 --agency ctp:ctp \
	    --agency la-london:local_authority --agency ogd-dwp:ogd && $(BUILD)/cli/macx keys list demo/keys; \
	fi

# macx into PREFIX/bin and its man pages into PREFIX/share/man/man1
# (DESTDIR is honoured, for packaging).
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# Unit tests and fuzz seeds under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	@echo "macx: building in build-asan/ with ASan and UBSan" >&2
	$(call configure,build-asan,-DCMAKE_BUILD_TYPE=Debug -DMACX_SANITIZE=ON $(CMAKE_FLAGS))
	@cmake --build build-asan -j$(JOBS) $(BUILD_FLAGS)
	ctest --test-dir build-asan --output-on-failure -j$(JOBS) -L 'unit|fuzz'

# libFuzzer targets, FUZZ_SECONDS each (needs clang); WERROR applies too.
FUZZ_SECONDS ?= 20
fuzz:
	@$(MAKE) deps EXTRA_DEBS="clang libclang-rt-14-dev"
	@echo "macx: building in build-fuzz/ with clang and libFuzzer" >&2
	$(call configure,build-fuzz,-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DMACX_FUZZ=ON -DMACX_SANITIZE=ON $(CMAKE_FLAGS))
	@cmake --build build-fuzz -j$(JOBS) $(BUILD_FLAGS)
	@for t in build-fuzz/tests/fuzz_*; do \
	  name=$$(basename $$t); mkdir -p build-fuzz/corpus/$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 build-fuzz/corpus/$$name \
	    tests/fuzz/corpus/$$name 2>&1 | tail -n 4 || exit 1; \
	done

# Full benchmarks (not tests): they print figures; bench_pilot takes minutes.
bench: build
	@for b in $(BUILD)/bench/bench_*; do echo "== $$b"; $$b; done

# The sweep benchmark (issue 13; printed, never timed in tests): wall time of
# scenarios/sweeps/health.yaml -- 3 variants x 20 seeds x 500 subjects -- with
# the local executor, and runs per minute. JOBS runs at a time (default: the
# cores); OUT keeps the sweep (default: out/bench-sweep, replaced).
bench-sweep: build
	BUILD=$(BUILD) JOBS=$(JOBS) bench/sweep.sh

# The Level 2/3 share as an outcome: the baseline at seeds 1..20, the mean
# with its spread and the intervention share; fails outside 10-20 %
# (about a minute and a half; tests/integration/pilot_level_share.sh is the
# fast part). SEEDS and OUT pass through.
SEEDS ?= 20
level-share: build
	tests/tools/level_share.sh $(BUILD)/cli/macx scenarios/baseline $(SEEDS) $(or $(OUT),out/level-share)

# macx beside NATS JetStream, Mosquitto and RabbitMQ in one run (issue 10):
# installs the servers and their C clients from Debian here only (never for
# build or test), builds peer_bench, runs bench/peers/run.sh. ROUNDS, RECORDS
# and WINDOW pass through; see docs/operations.md.
PEER_DEBS := nats-server rabbitmq-server mosquitto libnats-dev librabbitmq-dev libmosquitto-dev strace iproute2
bench-peers:
	@$(MAKE) deps EXTRA_DEBS="$(PEER_DEBS)"
	@$(MAKE) build
	@test -x $(BUILD)/bench/peer_bench || cmake -S . -B $(BUILD) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target peer_bench macx $(BUILD_FLAGS)
	BUILD=$(BUILD) bench/peers/run.sh

# The soak of a broker under attack (tests/integration/broker_soak.sh, about
# a minute) with its latency target checked: mi5's p99 under the attack below
# SOAK_P99_MS (default 50). The test suite runs the same soak and prints the
# p99 without checking it, since on a shared machine it measures the load.
SOAK_P99_MS ?= 50
soak: build
	@rm -rf $(BUILD)/soak && mkdir -p $(BUILD)/soak
	SOAK_P99_MS=$(SOAK_P99_MS) MACX_PEER=$(BUILD)/tests/macx_peer \
	  tests/integration/broker_soak.sh $(BUILD)/cli/macx $(CURDIR) $(BUILD)/soak

clean:
	rm -rf $(BUILD) build-asan build-fuzz
