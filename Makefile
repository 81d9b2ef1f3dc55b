# The Banking77 task app: `make run` serves, `make test` checks.
# Both install missing Debian packages and fetch the dataset first.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wno-unused-parameter -Werror
PKG_CFLAGS := $(shell pkg-config --cflags libmicrohttpd jansson libcurl 2>/dev/null)
CPPFLAGS := -std=c11 -D_GNU_SOURCE -Iinclude -Iio -Iserver -Ioptimizer -Imock $(PKG_CFLAGS)
# lib/ is pure and sees only include/: no program's header can leak into it.
LIB_CPPFLAGS := -std=c11 -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS)
LDLIBS  := -lmicrohttpd -ljansson -lcsv -luuid -lcurl -lpthread -lm
# The task app opens libcurl itself, on a thread during start-up (server/curl_load.c).
APP_LDLIBS := $(filter-out -lcurl,$(LDLIBS)) -lsqlite3 -lhiredis

SAN_ASAN := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_TSAN := -O1 -g -fno-omit-frame-pointer -fsanitize=thread

LIB_SRC    := $(wildcard lib/*.c)
IO_SRC     := $(wildcard io/*.c)
SERVER_SRC := $(wildcard server/*.c)
MOCK_SRC   := $(wildcard mock/*.c)
TOOLS_SRC  := $(wildcard tools/*.c)
OPT_SRC    := $(wildcard optimizer/*.c)
OPT_NOMAIN = $(filter-out optimizer/main.c,$(OPT_SRC))
UNIT_SRC   := $(wildcard tests/unit/*.c)
HEADERS    := $(wildcard include/*.h io/*.h server/*.h mock/*.h optimizer/*.h tests/unit/*.h)

# objects of variant $(1) (rel, asan, tsan) for sources $(2)
objs = $(patsubst %.c,build/$(1)/%.o,$(2))
SERVER_NOMAIN = $(filter-out server/main.c,$(SERVER_SRC))
MOCK_NOMAIN = $(filter-out mock/main.c,$(MOCK_SRC))

BANKING77_SOURCE ?= $(wildcard ../shared/banking77)
export BANKING77_SOURCE

.PHONY: all run test test-all deps deps-test dataset clean help format bench bench-tpe bench-opt compare fuzz soak
.DEFAULT_GOAL := all

all: bin/task-app bin/mock-llm bin/toml-decode bin/mipro

help:
	@echo "make            build bin/task-app and bin/mock-llm"
	@echo "make run        install what is missing, fetch the dataset, serve on 127.0.0.1:8002"
	@echo "make test       install what is missing, fetch the dataset, run every test"
	@echo "make dataset    fetch and verify the Banking77 CSVs into dataset/"
	@echo "make deps       install the missing Debian packages"
	@echo "make bench      throughput, latency, CPU, memory, start-up (wrk + nginx)"
	@echo "make bench-tpe  the C TPE against Optuna and random search"
	@echo "make bench-opt  MIPRO, GEPA and random search at budgets 100, 300, 1000 (held-out gain)"
	@echo "make compare    MIPRO and GEPA on the same model, budget and rows: table and chart"
	@echo "make fuzz       every libFuzzer target for FUZZ_SECONDS (60) each"
	@echo "make soak       10 minutes at 200 rollouts in flight with faults injected"
	@echo "make clean      remove build outputs"

deps:
	@scripts/install-deps.sh

dataset: dataset/train.csv dataset/test.csv

dataset/train.csv dataset/test.csv: dataset/fetch.sh dataset/SHA256SUMS
	@dataset/fetch.sh

# --- builds ---------------------------------------------------------------

build/rel/lib/%.o build/asan/lib/%.o build/tsan/lib/%.o: CPPFLAGS := $(LIB_CPPFLAGS)

build/rel/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

build/asan/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(SAN_ASAN) $(WARN) -c $< -o $@

build/tsan/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(SAN_TSAN) $(WARN) -c $< -o $@

bin/task-app: $(call objs,rel,$(SERVER_SRC) $(IO_SRC) $(LIB_SRC))
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(APP_LDLIBS)

bin/mock-llm: $(call objs,rel,$(MOCK_SRC) $(IO_SRC) $(LIB_SRC))
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

bin/mipro: $(call objs,rel,$(OPT_SRC) $(LIB_SRC))
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/asan/bin/mipro: $(call objs,asan,$(OPT_SRC) $(LIB_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(SAN_ASAN) -o $@ $^ $(LDLIBS)

bin/toml-decode: $(call objs,rel,tools/toml_decode.c $(LIB_SRC))
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/asan/bin/toml-decode: $(call objs,asan,tools/toml_decode.c $(LIB_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(SAN_ASAN) -o $@ $^ $(LDLIBS)

build/unit-tests: $(call objs,rel,$(UNIT_SRC) $(IO_SRC) $(LIB_SRC) $(SERVER_NOMAIN) $(OPT_NOMAIN) $(MOCK_NOMAIN))
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lsqlite3 -lhiredis

build/asan/bin/task-app: $(call objs,asan,$(SERVER_SRC) $(IO_SRC) $(LIB_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(SAN_ASAN) -o $@ $^ $(APP_LDLIBS)

build/asan/bin/mock-llm: $(call objs,asan,$(MOCK_SRC) $(IO_SRC) $(LIB_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(SAN_ASAN) -o $@ $^ $(LDLIBS)

build/asan/unit-tests: $(call objs,asan,$(UNIT_SRC) $(IO_SRC) $(LIB_SRC) $(SERVER_NOMAIN) $(OPT_NOMAIN) $(MOCK_NOMAIN))
	$(CC) $(SAN_ASAN) -o $@ $^ $(LDLIBS) -lsqlite3 -lhiredis

build/tsan/bin/task-app: $(call objs,tsan,$(SERVER_SRC) $(IO_SRC) $(LIB_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(SAN_TSAN) -o $@ $^ $(APP_LDLIBS)

# --- fuzzing (clang's libFuzzer, from libclang-rt-14-dev) -------------------

FUZZ_TARGETS := rollout contract csv toml url reply json extract
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 60

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_dataset.h $(IO_SRC) $(LIB_SRC) $(HEADERS)
	@mkdir -p build/fuzz
	clang $(CPPFLAGS) $(FUZZ_FLAGS) -Wall -Wextra -Werror -o $@ $< $(IO_SRC) $(LIB_SRC) $(LDLIBS)

fuzz: deps dataset
	@$(MAKE) --no-print-directory $(addprefix build/fuzz/fuzz_,$(FUZZ_TARGETS))
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# --- run and test ---------------------------------------------------------

run: deps dataset
	@$(MAKE) --no-print-directory bin/task-app
	@scripts/run-server.sh

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0

test: deps-test dataset
	@$(MAKE) --no-print-directory -j$$(nproc) test-all

deps-test:
	@scripts/install-deps.sh --test

test-all: all build/unit-tests build/asan/unit-tests build/asan/bin/task-app build/asan/bin/mock-llm \
		build/asan/bin/toml-decode build/asan/bin/mipro build/tsan/bin/task-app \
		$(addprefix build/fuzz/fuzz_,$(FUZZ_TARGETS))
	@tests/run-all.sh

build/tpe-bench: $(call objs,rel,bench/tpe_bench.c lib/tpe.c lib/util.c)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The C TPE against Optuna's (Debian's python3-optuna, installed here when
# missing) and random search. Prints a table; JSON in build/bench-tpe.json.
bench-tpe: build/tpe-bench
	@dpkg-query -W -f='$${Status}' python3-optuna 2>/dev/null | grep -q "install ok installed" || \
		{ $$( [ "$$(id -u)" -eq 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-optuna; }
	@build/tpe-bench 50 > build/tpe-c.json
	@/usr/bin/python3 bench/tpe_optuna.py 50 > build/tpe-optuna.json
	@python3 bench/tpe_report.py build/tpe-c.json build/tpe-optuna.json build/bench-tpe.json

# Does optimization work? MIPRO and GEPA against random search at budgets 100,
# 300 and 1,000 over 5 seeds, on the mock's simulated model; every returned prompt and
# the initial one scored on the same 1,000 test rows. JSON in build/bench-opt.json.
bench-opt: all dataset
	@python3 bench/bench_opt.py

# The seed's "Try both!": MIPRO and GEPA on the same model, budget, seed and
# rows (the mock unless COMPARE_ARGS names a server). Chart: build/compare/compare.svg.
compare: all dataset
	@python3 scripts/compare.py $(COMPARE_ARGS)

# Throughput, latency, CPU, memory and start-up against nginx and the mock
# (wrk and nginx from Debian, installed here when missing). Under 5 minutes.
bench: all dataset
	@for p in wrk nginx-light redis-server; do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || \
		{ $$( [ "$$(id -u)" -eq 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$p; }; done
	@python3 bench/bench.py

# 10 minutes at 200 rollouts in flight with faults injected (not in make test).
soak: all
	@python3 tests/soak.py $(or $(SOAK_SECONDS),600) $(or $(SOAK_CONCURRENCY),200)

clean:
	rm -rf build bin

format:
	clang-format -i $(LIB_SRC) $(IO_SRC) $(SERVER_SRC) $(MOCK_SRC) $(TOOLS_SRC) $(OPT_SRC) $(UNIT_SRC) $(HEADERS)
