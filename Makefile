# luigid-rs: `make run` starts the scheduler on 127.0.0.1:8082, `make test` runs every check.
SHELL := /bin/bash
CARGO ?= cargo
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= var
PORT ?= 8082

.PHONY: all build release run test lint test-rust test-py venv browser db-servers old-luigid bench bench-ha bench-durability bench-faults bench-scale bench-stalls fuzz clean

all: build

build:
	$(CARGO) build --release

release: build

# Embedded defaults: state and history under ./var, listening on 127.0.0.1:8082.
run: build
	mkdir -p $(DATA)
	./target/release/luigid-rs --port $(PORT) --state-path $(DATA)/state.json \
	  --history-db $(DATA)/luigi-task-hist.db

# The Python side of the tests: the real Luigi client and the real luigid as an oracle.
# Idempotent and quick when the venv is already complete.
venv: $(VENV)/.complete

$(VENV)/.complete: tests/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	touch $@

# Debian's Chromium for the browser tests (never a downloaded browser build).
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  (apt-get update -qq || true) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# Debian's PostgreSQL and MariaDB for the task history tests (tests/history_db), which
# start throwaway servers themselves; the packages' own services are not used.
db-servers:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v mariadb-install-db >/dev/null 2>&1 \
	    || ! PATH="$$PATH:/usr/sbin" command -v haproxy >/dev/null 2>&1; then \
	  (apt-get update -qq || true) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql mariadb-server haproxy >/dev/null; \
	fi

# An older luigid (luigi 2.8.13, own venv) whose state pickle luigid-rs must import.
old-luigid:
	./tests/pickle/old_luigid.sh 2.8.13

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# The venv first: tests/rpc_table.rs compares the api table with the installed luigi.
test-rust: venv
	$(CARGO) test --all-targets

test-py: venv build browser db-servers old-luigid
	LUIGID_RS_BIN=$(CURDIR)/target/release/luigid-rs $(PY) -m pytest -q tests

test: lint test-rust test-py

bench: venv build db-servers
	$(CARGO) build --release --benches
	LUIGID_RS_BIN=$(CURDIR)/target/release/luigid-rs ./benches/run.sh
	LUIGID_RS_BIN=$(CURDIR)/target/release/luigid-rs PY=$(PY) ./benches/ha.sh

# High availability: add_task with state_store (PostgreSQL) against local files, and the
# failover time of a pair (benches/ha.py).
bench-ha: venv build db-servers
	$(CARGO) build --release --benches
	LUIGID_RS_BIN=$(CURDIR)/target/release/luigid-rs PY=$(PY) ./benches/ha.sh

# add_task with each durability setting, and loop stalls while 100k-task snapshots are written.
bench-durability: build
	$(CARGO) build --release --benches
	LUIGID_RS_BIN=$(CURDIR)/target/release/luigid-rs ./benches/durability.sh

# A large state through a stop and a restart (SCALE_TASKS, default 100000).
bench-scale: build
	$(CARGO) build --release --benches
	LUIGID_RS_BIN=$(CURDIR)/target/release/luigid-rs ./benches/scale.sh

# Loop stalls with a large state, 10k workers and a visualiser (SCALE_TASKS, default 100000).
bench-stalls: build
	$(CARGO) build --release --benches
	LUIGID_RS_BIN=$(CURDIR)/target/release/luigid-rs ./benches/stalls.sh

# Full disk per durability mode on a 2 MiB tmpfs (root): acknowledged, refused, lost after kill -9.
bench-faults: build
	LUIGID_RS_BIN=$(CURDIR)/target/release/luigid-rs python3 benches/fault_matrix.py

FUZZ_SECONDS ?= 60
fuzz:
	./fuzz/run.sh $(FUZZ_SECONDS)

clean:
	$(CARGO) clean
