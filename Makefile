# netlab: build, run and test the container networking labs.
# Every target that needs tools installs the missing Debian packages itself.
SHELL  := /bin/bash
# sudo resets PATH, so look for Go where the official tarball puts it too;
# scripts/install-go.sh installs one (1.21 or later) where there is none.
# Found (or installed) the first time a recipe uses it, once, so that
# targets without Go (help, vm-check, ...) never run it.
GO     ?= $(eval GO := $$(shell scripts/install-go.sh 2>/dev/null || echo go))$(GO)
BIN    := bin/netlab
PREFIX ?= /usr/local
DEBS   := iproute2 iptables iputils-ping traceroute curl bind9-dnsutils tcpdump iperf3 util-linux procps gcc libc6-dev git shellcheck ethtool graphviz conntrack nfacct ipset nftables
# What only the tests need: the browser test of netlab web drives Debian's chromium.
TEST_DEBS := chromium fonts-dejavu-core
# What make vm-test needs on the host (the VMs' own packages are in their image).
VM_DEBS := qemu-system-x86 debootstrap e2fsprogs openssh-client
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
export GOTOOLCHAIN ?= auto
# Tests build netlab with the same go, whatever PATH sudo left.
GOPATH_ = PATH="$(dir $(GO)):$$PATH"

.PHONY: help deps test-deps vm-deps build install lab test vm-check vm-test vagrant-test docker-reference reliability unit lint bench screenshots clean

help: ## show this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

deps: ## install the Debian packages the lab and the tests use (needs root)
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@scripts/install-go.sh >/dev/null

build: ## build bin/netlab (with cgo: the workloads' runtime, netlab_pod.c, is built in)
	$(GOPATH_) CGO_ENABLED=1 $(GO) build -o $(BIN) ./cmd/netlab

install: build ## install netlab into $(PREFIX)/bin (needs root)
	install -m 0755 $(BIN) $(PREFIX)/bin/netlab

lab: deps install ## build both models side by side, show what each proves, compare them (needs root)
	@netlab down --lab docker >/dev/null
	@netlab down --lab overlay >/dev/null
	netlab docker-mode --topology examples/docker-uneven.yaml
	@scripts/demo-docker.sh
	netlab overlay-mode
	@scripts/demo-overlay.sh
	@scripts/demo-service.sh
	netlab compare
	@printf '\nNext, the workshop: docs/workshop.md (eleven parts), then the exercises: sudo netlab exercise list\n'

test: deps test-deps vm-deps lint vm-check build ## lint, Vagrantfile check, every test (root, real packets), both labs on two QEMU VMs, leak check
	@snap=$$(mktemp -t netlab-leak-check.XXXXXX) && trap 'rm -f "$$snap"' EXIT && \
	scripts/leak-check.sh snapshot "$$snap" && \
	$(GOPATH_) $(GO) test -count=1 -race -timeout 30m ./... && \
	scripts/vm-test.sh && \
	scripts/leak-check.sh verify "$$snap"

test-deps: ## install what only the tests need: chromium, for the browser test of netlab web (needs root)
	@missing=$$(for p in $(TEST_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

vm-deps: ## install what vm-test needs on this machine: QEMU, debootstrap (needs root)
	@missing=$$(for p in $(VM_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Where make docker-reference unpacks the real Dockers it records.
DOCKER_ROOT ?= /var/cache/netlab/docker
VAGRANT_DEBS := vagrant vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients dnsmasq-base qemu-utils rsync tinyproxy socat

vagrant-test: vm-deps build ## the Vagrantfile itself, brought up by Vagrant (vagrant-libvirt, emulated), then vm-test's checks
	@missing=$$(for p in $(VAGRANT_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	scripts/vagrant-test.sh

docker-reference: ## record what real Docker answers (Debian's 20.10 and unstable's 28.5, fetched and unpacked, never installed), in namespaces, into bridge/testdata/docker-*
	@missing=$$(for p in busybox-static curl conntrack dnsmasq-base iproute2 iptables; do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	scripts/docker-fetch.sh 20.10 $(DOCKER_ROOT)/20.10
	scripts/docker-fetch.sh 28.5 $(DOCKER_ROOT)/28.5
	scripts/docker-reference.sh --root $(DOCKER_ROOT)/20.10 bridge/testdata/docker-20.10 userland-proxy-true userland-proxy-false
	scripts/docker-reference.sh --root $(DOCKER_ROOT)/28.5 bridge/testdata/docker-28.5 userland-proxy-true userland-proxy-false allow-direct-routing ipv6 ipv6-userland-proxy-false
	scripts/docker-reference.sh --root $(DOCKER_ROOT)/28.5 bridge/testdata/docker-28.5-networks user-defined-networks

reliability: deps build ## crash safety in figures: kill -9 during up, up/down cycles, labs in parallel (needs root)
	scripts/reliability.sh

vm-test: vm-deps build ## both labs on two real QEMU VMs (VMS=3 for three; the image is built once and cached), as Vagrant runs them
	scripts/vm-test.sh

vm-check: ## check the Vagrantfile and the VM provisioning script, offline
	@command -v vagrant >/dev/null || { echo "installing vagrant (to validate the Vagrantfile)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends vagrant >/dev/null; }
	VAGRANT_CHECKPOINT_DISABLE=1 vagrant validate --ignore-provider
	NETLAB_NODES=3 VAGRANT_CHECKPOINT_DISABLE=1 vagrant validate --ignore-provider
	NETLAB_SYNC=default VAGRANT_CHECKPOINT_DISABLE=1 vagrant validate --ignore-provider
	NETLAB_PROXY=http://192.168.1.10:3142 NETLAB_PROXY_CA=/etc/ssl/certs/ca-certificates.crt VAGRANT_CHECKPOINT_DISABLE=1 vagrant validate --ignore-provider
	@out=$$(NETLAB_PROXY='192.168.1.10; rm -rf /' VAGRANT_CHECKPOINT_DISABLE=1 vagrant validate --ignore-provider 2>&1) && \
	  { echo "vm-check: a malformed NETLAB_PROXY was accepted"; exit 1; } || \
	  { echo "$$out" | grep -q "NETLAB_PROXY must be an HTTP proxy as http://HOST:PORT" || { echo "$$out"; exit 1; }; \
	    echo "a malformed NETLAB_PROXY is refused"; }
	shellcheck scripts/provision.sh

unit: ## only the pure tests (-short): no root, no kernel changes
	$(GOPATH_) $(GO) test -short -count=1 ./...

lint: ## gofmt, go vet, staticcheck and shellcheck
	@out=$$($(GOPATH_) gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')) || exit 1; if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GOPATH_) $(GO) vet ./...
	$(GOPATH_) $(GO) run $(STATICCHECK) ./...
	shellcheck -x scripts/*.sh .ci/run

screenshots: deps test-deps build ## rewrite docs/img/web-*.png from the browser test, against real labs (needs root)
	$(GOPATH_) NETLAB_DOCS_IMG=1 $(GO) test ./cmd/netlab -run 'TestWebBrowser$$' -count=1 -v

bench: deps build ## lab up/down times (vs the shell script) and data-plane throughput, as tables (needs root)
	$(GOPATH_) $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./bench/ | scripts/bench-table.sh

clean: ## remove build output
	rm -rf bin
