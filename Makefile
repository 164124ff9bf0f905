# orgvault — one GNU Makefile (see README.md for the targets).
PREFIX    ?= /usr/local
DESTDIR   ?=
BUILD     ?= build
CC        ?= cc
PKGS      := sqlite3 libsodium libcurl jansson libmicrohttpd libpq
DEB_PKGS  := build-essential pkg-config libsqlite3-dev libsodium-dev \
             libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev libpq-dev
TEST_DEBS := libcmocka-dev jq sqlite3 util-linux curl bc openssl faketime python3
BENCH_DEBS := wrk
# make test-pg: a throwaway cluster per test (tests/pg/cluster.sh).
PG_DEBS := postgresql
# libFuzzer is in libclang-rt-N-dev, which clang only recommends; N is
# clang's major version (14 on Debian 12, 19 on Debian 13), read once
# clang is installed.
FUZZ_DEBS := clang
FUZZ_SECONDS ?= 60
COVER_DEBS := lcov

WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 \
             -Wmissing-prototypes -Wno-unused-parameter
HARDEN    := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE \
             -fstack-clash-protection
OPT       ?= -O2 -g
CFLAGS    ?=
WERROR    ?= $(if $(CI),-Werror,)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(WERROR) $(HARDEN) \
             -I. $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now $(LDFLAGS)
LIBS       = $(PKG_LIBS) -lpthread

LIB_SRC := $(wildcard util/*.c vault/*.c rotation/*.c admin/*.c)
CMD_SRC := $(wildcard cmd/*.c)
MIGRATIONS := $(sort $(wildcard migrations/*.sql))
PG_MIGRATIONS := $(sort $(wildcard migrations/pg/*.sql))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/migrations_embed.o
CMD_OBJ := $(CMD_SRC:%.c=$(BUILD)/%.o)
FAKE_SRC := $(wildcard tests/fake_oauth/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_OBJ := $(LIB_OBJ) $(filter-out $(BUILD)/cmd/main.o,$(CMD_OBJ))

.PHONY: all test test-pg unit integration asan install uninstall clean deps deps-test run help \
        bench test-long coverage fuzz fuzz-run chaos

all: $(BUILD)/orgvault

help:
	@echo "targets: all test asan fuzz run install uninstall clean deps deps-test"

$(BUILD)/orgvault: $(CMD_OBJ) $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Migrations are embedded at build time (tools/embed-migrations.sh).
$(BUILD)/migrations_embed.c: tools/embed-migrations.sh $(MIGRATIONS) \
    $(PG_MIGRATIONS)
	@mkdir -p $(BUILD)
	sh tools/embed-migrations.sh migrations $(MIGRATIONS) -- \
	    migrations_pg $(PG_MIGRATIONS) > $@.tmp && mv $@.tmp $@

$(BUILD)/migrations_embed.o: $(BUILD)/migrations_embed.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB_OBJ) $(LIBS) -lcmocka

# The fake OAuth server used by the tests (a real libmicrohttpd server).
$(BUILD)/fake-oauth: $(FAKE_SRC) $(wildcard tests/fake_oauth/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(FAKE_SRC) $(LIBS)

# The loopback webhook receiver of t_webhook.sh (next to fake-oauth).
$(BUILD)/webhook-rx: tests/integration/webhook_rx.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBS)

# deps: install what is missing when root; otherwise say what to install.
deps:
	@sh tools/deps.sh $(DEB_PKGS)

deps-test:
	@sh tools/deps.sh $(DEB_PKGS) $(TEST_DEBS)

test: deps-test
	$(MAKE) --no-print-directory unit integration

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t || fail=1; \
	done; exit $$fail

# TEST_JOBS: integration files run at once (see tests/integration/run.sh);
# make asan and make coverage run them one at a time.
TEST_JOBS ?= 2
OV_TEST_DB ?= sqlite
integration: $(BUILD)/orgvault $(if $(FAKE_SRC),$(BUILD)/fake-oauth) \
    $(BUILD)/webhook-rx
	@OV_TEST_DB=$(OV_TEST_DB) OV_TEST_JOBS=$(TEST_JOBS) \
	    ORGVAULT=$(abspath $(BUILD)/orgvault) \
	    FAKE_OAUTH=$(abspath $(BUILD)/fake-oauth) \
	    WEBHOOK_RX=$(abspath $(BUILD)/webhook-rx) \
	    bash tests/integration/run.sh

# test-pg: the driver's unit tests and the whole integration suite on
# PostgreSQL (OV_TEST_DB=pg: each test file starts its own cluster).
test-pg: deps-test
	@sh tools/deps.sh $(PG_DEBS)
	$(MAKE) --no-print-directory $(BUILD)/tests/test_db_pg
	@OV_TEST_DB=pg bash tests/pg/run-unit.sh $(abspath $(BUILD)/tests/test_db_pg)
	@$(MAKE) --no-print-directory OV_TEST_DB=pg integration

# asan: the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps-test
	$(MAKE) --no-print-directory BUILD=build-asan \
	    OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    HARDEN="-fPIE" \
	    LDFLAGS="-fsanitize=address,undefined" TEST_JOBS=1 unit integration

# fuzz: every libFuzzer target of tests/fuzz/ for FUZZ_SECONDS each, built
# with clang under ASan + UBSan in build-fuzz/.  New corpus entries go to
# build-fuzz/corpus/, crashes to build-fuzz/crashes/ (make fails, naming
# the reproducer).  -Werror under CI, like the gcc builds.
fuzz:
	@sh tools/deps.sh $(DEB_PKGS) $(FUZZ_DEBS)
	@sh tools/deps.sh libclang-rt-$$(clang -dumpversion | cut -d. -f1)-dev
	$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	    OPT="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    HARDEN="-fPIE" \
	    LDFLAGS="-fsanitize=fuzzer,address,undefined" fuzz-run

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ) $(wildcard tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(FUZZ_OBJ) $(LIBS)

fuzz-run: $(FUZZ_BIN)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) sh tests/fuzz/run.sh \
	    $(FUZZ_BIN)

# bench: figures against baselines measured in the same run; no asserts.
$(BUILD)/curl-baseline: tests/bench/curl_baseline.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBS)

$(BUILD)/bench-bare-mhd: tests/bench/bare_mhd.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBS)

# The orgvault of the last commit before migration 0004, from git history,
# for bench_reseal.sh (the re-seal of old rows on 10 000 credentials).
RESEAL_OLD_REV := d11f813
build-bench-old/orgvault:
	@rm -rf build-bench-old && mkdir -p build-bench-old/src
	git archive --format=tar $(RESEAL_OLD_REV) | tar -x -C build-bench-old/src
	$(MAKE) --no-print-directory -C build-bench-old/src BUILD=build build/orgvault
	cp build-bench-old/src/build/orgvault $@

bench: deps-test $(BUILD)/orgvault $(BUILD)/fake-oauth $(BUILD)/curl-baseline \
    $(BUILD)/bench-bare-mhd build-bench-old/orgvault
	@sh tools/deps.sh $(BENCH_DEBS) $(PG_DEBS)
	@rm -f $(BUILD)/bench-table.tsv
	@for db in sqlite pg; do \
	    BENCH_DB=$$db BENCH_TABLE=$(abspath $(BUILD)/bench-table.tsv) \
	    ORGVAULT=$(abspath $(BUILD)/orgvault) \
	    FAKE_OAUTH=$(abspath $(BUILD)/fake-oauth) \
	    CURL_BASELINE=$(abspath $(BUILD)/curl-baseline) \
	    bash tests/bench/bench_refresh.sh || exit 1; \
	    BENCH_DB=$$db BENCH_TABLE=$(abspath $(BUILD)/bench-table.tsv) \
	    ORGVAULT=$(abspath $(BUILD)/orgvault) \
	    FAKE_OAUTH=$(abspath $(BUILD)/fake-oauth) \
	    BARE_MHD=$(abspath $(BUILD)/bench-bare-mhd) \
	    bash tests/bench/bench_broker.sh || exit 1; \
	done
	@ORGVAULT=$(abspath $(BUILD)/orgvault) \
	    OLD_ORGVAULT=$(abspath build-bench-old/orgvault) \
	    FAKE_OAUTH=$(abspath $(BUILD)/fake-oauth) \
	    bash tests/bench/bench_reseal.sh
	@echo "== side by side (SQLite file; PostgreSQL 15 on this machine over a Unix socket)"
	@bash tests/bench/bench_table.sh $(BUILD)/bench-table.tsv

# coverage: unit + integration tests on an instrumented build (build-cov),
# then line coverage per folder (tools/coverage.sh).  Fails when a test
# fails; the report is printed either way.
coverage: deps-test
	@sh tools/deps.sh $(COVER_DEBS)
	@rm -rf build-cov
	@OV_COVERAGE=1 $(MAKE) --no-print-directory BUILD=build-cov \
	    OPT="-O0 -g --coverage" HARDEN="-fPIE" LDFLAGS="--coverage" \
	    TEST_JOBS=1 unit integration; \
	    rc=$$?; sh tools/coverage.sh build-cov; exit $$rc

# chaos: serve killed -9 every few seconds under token-broker load and
# provider faults for CHAOS_SECONDS (300), then end checks; the header of
# tests/chaos/chaos.sh lists its parameters and checks.
chaos: $(BUILD)/orgvault $(BUILD)/fake-oauth $(BUILD)/webhook-rx
	@ORGVAULT=$(abspath $(BUILD)/orgvault) \
	    FAKE_OAUTH=$(abspath $(BUILD)/fake-oauth) \
	    WEBHOOK_RX=$(abspath $(BUILD)/webhook-rx) \
	    bash tests/chaos/chaos.sh

# test-long: the long variants (herd at full size, ...); minutes each.
test-long: deps-test $(BUILD)/orgvault $(BUILD)/fake-oauth
	@sh tools/deps.sh $(BENCH_DEBS)
	@ORGVAULT=$(abspath $(BUILD)/orgvault) \
	    FAKE_OAUTH=$(abspath $(BUILD)/fake-oauth) \
	    TESTS_DIR=tests/integration/long bash tests/integration/run.sh

run: deps all
	@sh tools/run.sh $(BUILD)/orgvault

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/orgvault $(DESTDIR)$(PREFIX)/bin/orgvault

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/orgvault

clean:
	rm -rf build build-asan build-cov build-fuzz
