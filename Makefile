# listctl — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift

.PHONY: demo test build setup bench-import bench-render bench-send bench-deliver bench-ledger bench-serve bench-archive clean

setup:
	bash scripts/setup.sh

build: setup
	$(SWIFT) build

demo: setup
	bash scripts/demo.sh

test: setup
	bash scripts/test.sh

bench-import: setup
	bash scripts/bench-import.sh

bench-render: setup
	bash scripts/bench-render.sh

bench-send: setup
	bash scripts/bench-send.sh

bench-deliver: setup
	bash scripts/bench-deliver.sh

bench-ledger: setup
	bash scripts/bench-ledger-growth.sh

bench-serve: setup
	bash scripts/bench-serve.sh

bench-archive: setup
	bash scripts/bench-archive.sh

clean:
	rm -rf .build outbox
