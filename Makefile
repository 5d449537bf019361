# tern -- the two commands of README.md, and the steps under them.
#   make        build build/ternd and build/ternctl
#   make run    install build dependencies, build, create var/, run ternd
#   make test   install test dependencies, build, run every test in the
#               normal build and again under ASan+UBSan
#   make fuzz   build the libFuzzer targets with clang in build-fuzz/ and
#               run each for FUZZ_SECONDS (tests/fuzz/README.md)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD_DEPS = gcc make cmake pkg-config openssl libuv1-dev libexpat1-dev \
	libssl-dev libyaml-dev libsqlite3-dev libidn-dev libidn2-dev \
	libhttp-parser-dev libwslay-dev libc-ares-dev libmimalloc-dev
TEST_DEPS = $(BUILD_DEPS) libcmocka-dev python3 python3-slixmpp python3-pytest \
	chromium nodejs dnsmasq-base prosody lua-unbound ejabberd python3-yaml
# Debian's own Python has slixmpp; another python3 first on PATH may not.
PYTHON ?= /usr/bin/python3
FUZZ_SECONDS ?= 30
FUZZ_TARGETS = xml jid scram config tls13 ws certname http

.PHONY: all build build-asan deps test-deps run test unit integration \
	unit-asan integration-asan fuzz clean

all: build

build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j$(JOBS)

build-asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTN_SANITIZE=ON >/dev/null
	cmake --build build-asan -j$(JOBS)

deps:
	sh tools/install-deps.sh $(BUILD_DEPS)

test-deps:
	sh tools/install-deps.sh $(TEST_DEPS)
	@# Debian's nodejs comes without npm (NodeSource's has it built in).
	command -v npm >/dev/null || sh tools/install-deps.sh npm

run: deps build
	sh tools/setup-var.sh var
	exec build/ternd -c var/tern.yaml

unit: build
	cd build && ctest --output-on-failure

integration: build
	TERND=$(CURDIR)/build/ternd TERNCTL=$(CURDIR)/build/ternctl \
		$(PYTHON) -m pytest -q tests/integration

unit-asan: build-asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure

integration-asan: build-asan
	TERND=$(CURDIR)/build-asan/ternd TERNCTL=$(CURDIR)/build-asan/ternctl \
		ASAN_OPTIONS=detect_leaks=1 \
		$(PYTHON) -m pytest -q tests/integration

test: test-deps
	$(MAKE) unit integration unit-asan integration-asan

# New inputs go to build-fuzz/corpus/<t>, crashes to build-fuzz/crashes/<t>;
# the seeds and the saved reproducers in tests/fuzz are only read.
fuzz:
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DTN_FUZZ=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build-fuzz -j$(JOBS) \
		--target $(addprefix fuzz_,$(FUZZ_TARGETS))
	set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p build-fuzz/corpus/$$t build-fuzz/crashes/$$t; \
		dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
		reg=; [ -d tests/fuzz/regress/$$t ] && reg=tests/fuzz/regress/$$t; \
		echo "== fuzz_$$t for $(FUZZ_SECONDS)s"; \
		build-fuzz/fuzz_$$t -max_len=4096 -max_total_time=$(FUZZ_SECONDS) \
			-print_final_stats=1 $$dict \
			-artifact_prefix=build-fuzz/crashes/$$t/ \
			build-fuzz/corpus/$$t tests/fuzz/corpus/$$t $$reg; \
	done

clean:
	rm -rf build build-asan build-fuzz
