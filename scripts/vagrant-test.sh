#!/usr/bin/env bash
# vagrant-test.sh: the project's Vagrantfile, unmodified, brought up by
# Vagrant itself with vagrant-libvirt, then the same checks as vm-test.sh.
#
# The box is built here from the image vm-test.sh boots (vm-image.sh): a
# libvirt box (metadata.json, a qcow2, and a box Vagrantfile that boots the
# image's kernel directly, under QEMU's emulation). libvirtd runs in a
# network namespace and a mount namespace of this test's own: its bridges,
# dnsmasq and iptables rules stay in the one, its state (/etc/libvirt,
# /var/lib/libvirt, /run/libvirt, ...) on tmpfs in the other, so the
# machine keeps nothing of it. A machine that already runs a libvirtd is
# refused: the two would share /run/libvirt.
#
# Not part of make test (it takes minutes more than vm-test, for the same
# VMs); run it with `sudo make vagrant-test`. VMS=3 for three VMs.
#
# NETLAB_ONLINE=1 provisions online instead, as a laptop does: each VM
# installs its packages and a Go, and builds netlab itself. Its downloads go
# through NETLAB_PROXY (the Vagrantfile's setting), here a tinyproxy on this
# machine that lets through only the package registries this machine
# reaches (Debian's, the Go module proxy); the VMs reach it on the private
# network's host address, bridged into the test's namespace by socat over a
# Unix socket (nothing is added to this machine's network). The time it
# takes is printed.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
top=$PWD
vms=${VMS:-2}
subnet=192.168.56
cache=${NETLAB_VM_CACHE:-/var/cache/netlab/vm}
started=${STARTED:-$SECONDS}
say() { printf '%s\n' "$*"; }
phase() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - started)); }
# shellcheck source=scripts/vm-checks.sh
source scripts/vm-checks.sh

# outer: on the machine: the image, the box, the namespaces; then inner in them.
outer() {
  preflight vagrant-test vagrant libvirtd virtlogd virsh qemu-img qemu-system-x86_64 rsync unshare debootstrap
  if [ "${NETLAB_ONLINE:-0}" = 1 ]; then preflight vagrant-test tinyproxy socat; fi
  if pgrep -x libvirtd >/dev/null || pgrep -x virtqemud >/dev/null; then
    echo "vagrant-test: a libvirtd already runs on this machine; this test runs its own: stop that one first" >&2
    exit 1
  fi
  ns=nlvag-$$
  made=()
  proxy_pids=()
  run=$(mktemp -d /tmp/netlab-vagrant-test.XXXXXX)
  cleanup() {
    # The inner part destroys the VMs and stops its daemons; this is for
    # whatever an interruption left: processes of the namespace, then it.
    local p
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    sleep 1
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    for p in "${proxy_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$run"
    for p in "${made[@]}"; do rmdir "$p" 2>/dev/null || true; done
  }
  trap cleanup EXIT
  trap 'echo "vagrant-test: interrupted"; exit 130' INT TERM HUP

  phase "VM image, and a libvirt box of it"
  image=$(scripts/vm-image.sh "$cache")
  box=$run/box
  mkdir -p "$box"
  qemu-img convert -O qcow2 "$image/root.img" "$box/box.img"
  cp "$image/vmlinuz" "$image/initrd.img" "$image/id_ed25519" "$box/"
  chmod 0600 "$box/id_ed25519"
  echo '{"provider": "libvirt", "format": "qcow2", "virtual_size": 3}' >"$box/metadata.json"
  cat >"$box/Vagrantfile" <<'EOF'
# The box's own Vagrantfile: log in as vagrant with the image's key, and boot
# the image's kernel directly, emulated (no KVM needed).
Vagrant.configure("2") do |config|
  here = File.dirname(__FILE__)
  config.ssh.username = "vagrant"
  config.ssh.private_key_path = File.join(here, "id_ed25519")
  config.ssh.insert_key = false
  config.vm.provider :libvirt do |lv|
    lv.driver = ENV.fetch("NETLAB_LIBVIRT_DRIVER", "qemu")
    lv.kernel = File.join(here, "vmlinuz")
    lv.initrd = File.join(here, "initrd.img")
    lv.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet"
    lv.disk_bus = "virtio"
    lv.nic_model_type = "virtio"
    lv.cpu_mode = "maximum"  # QEMU's -cpu max: all that emulation offers
    lv.graphics_type = "none"
    lv.video_type = "none"
  end
end
EOF
  tar -C "$box" -cf "$run/netlab.box" metadata.json Vagrantfile box.img vmlinuz initrd.img id_ed25519
  rm -f "$box/box.img"

  ip netns add "$ns"
  ip -n "$ns" link set lo up
  if [ "${NETLAB_ONLINE:-0}" = 1 ]; then
    # The registries' proxy: tinyproxy on this machine's loopback, on a
    # free port, refusing every host but the registries'; socat makes it a
    # Unix socket, which the inner part serves in the test's namespace.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf '%s\n' '^deb\.debian\.org$' '^security\.debian\.org$' '^proxy\.golang\.org$' '^sum\.golang\.org$' >"$run/registries"
    printf '%s\n' "Port $port" "Listen 127.0.0.1" "Timeout 600" "MaxClients 40" "Allow 127.0.0.1" \
      "Filter \"$run/registries\"" "FilterDefaultDeny Yes" "FilterExtended Yes" "ConnectPort 443" "LogLevel Connect" >"$run/tinyproxy.conf"
    tinyproxy -d -c "$run/tinyproxy.conf" >"$run/proxy.log" 2>&1 &
    proxy_pids+=("$!")
    socat "UNIX-LISTEN:$run/proxy.sock,fork" "TCP:127.0.0.1:$port" &
    proxy_pids+=("$!")
    say "online: downloads through tinyproxy 127.0.0.1:$port, which lets through only: $(tr '\n' ' ' <"$run/registries")"
  fi
  # Where libvirt keeps its state, tmpfs will be mounted in the inner mount
  # namespace; a mount point that is not there yet is made, and removed
  # again at the end.
  for d in /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /run/libvirt; do
    [ -d "$d" ] || { mkdir "$d"; made+=("$d"); }
  done
  say "libvirtd and Vagrant run in network namespace $ns and a mount namespace of their own"
  STARTED=$started RUN=$run NS=$ns unshare --mount --propagation private -- \
    ip netns exec "$ns" "$0" inner
}

# inner: in the test's network and mount namespaces: libvirtd, Vagrant, the checks.
inner() {
  run=${RUN:?} ns=${NS:?}
  # libvirt's state on tmpfs, in this mount namespace only.
  for d in /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /run/libvirt; do
    mount -t tmpfs -o mode=0755 "libvirt-$ns" "$d"
  done
  mkdir -p /etc/libvirt/qemu /var/lib/libvirt/images
  # libvirt's QEMU driver looks up the user libvirt-daemon-system creates
  # before it reads qemu.conf: give it one, in this mount namespace only.
  for f in passwd group; do
    cp "/etc/$f" "$run/$f"
    mount --bind "$run/$f" "/etc/$f"
  done
  getent passwd libvirt-qemu >/dev/null || echo 'libvirt-qemu:x:64055:64055:libvirt:/var/lib/libvirt:/usr/sbin/nologin' >>/etc/passwd
  for g in libvirt-qemu kvm libvirt; do
    getent group "$g" >/dev/null || echo "$g:x:$((64055 + ${#g})):" >>/etc/group
  done
  cat >/etc/libvirt/qemu.conf <<'EOF'
# QEMU as root, without the users and AppArmor profiles of libvirt-daemon-system.
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
stdio_handler = "file"
EOF
  virtlogd -d
  libvirtd -d
  for _ in $(seq 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
  virsh -q -c qemu:///system pool-define-as default dir --target /var/lib/libvirt/images >/dev/null
  virsh -q -c qemu:///system pool-start default >/dev/null

  export VAGRANT_HOME=$run/vagrant.d VAGRANT_DOTFILE_PATH=$run/dot VAGRANT_CHECKPOINT_DISABLE=1
  export VAGRANT_DEFAULT_PROVIDER=libvirt VAGRANT_NO_PARALLEL=1
  export NETLAB_BOX=netlab/bookworm-local NETLAB_OFFLINE=1 NETLAB_NODES=$vms
  if [ "${NETLAB_ONLINE:-0}" = 1 ]; then
    # The VMs' proxy: the private network's host address, in this
    # namespace, to the Unix socket of the outer part's tinyproxy.
    export NETLAB_OFFLINE=0 NETLAB_PROXY=http://$subnet.1:3128
    # This machine's own extra CAs (an egress that inspects TLS signs with
    # one), for the VMs to trust as it does: NETLAB_PROXY_CA.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
      cat /usr/local/share/ca-certificates/*.crt >"$run/proxy-ca.crt"
      export NETLAB_PROXY_CA=$run/proxy-ca.crt
    fi
    socat TCP-LISTEN:3128,fork,reuseaddr "UNIX-CONNECT:$run/proxy.sock" &
  fi
  vagrant box add -f --name "$NETLAB_BOX" "$run/netlab.box" >"$run/box-add.log" 2>&1 || {
    cat "$run/box-add.log" >&2; exit 1; }

  finish() {
    local rc=$?
    phase "vagrant destroy"
    (cd "$top" && timeout 300 vagrant destroy -f >"$run/destroy.log" 2>&1) || tail -5 "$run/destroy.log"
    pkill -x libvirtd 2>/dev/null || true
    pkill -x virtlogd 2>/dev/null || true
    pkill -x dnsmasq 2>/dev/null || true
    pkill -f "TCP-LISTEN:3128,fork" 2>/dev/null || true
    return $rc
  }
  trap finish EXIT

  phase "vagrant up ($vms VMs, the project's Vagrantfile)"
  up_start=$SECONDS
  if ! (cd "$top" && vagrant up >"$run/up.log" 2>&1); then
    grep -v "^[[:space:]]*from /" "$run/up.log" | tail -30
    echo "vagrant-test: vagrant up failed" >&2
    exit 1
  fi
  grep -E "provision: this VM is|provision: tools installed|provision: downloading|Machine booted|Rsyncing" "$run/up.log" | sed 's/^/  /'
  say "vagrant up took $((SECONDS - up_start)) s"
  if [ "${NETLAB_ONLINE:-0}" = 1 ]; then
    say "online: $(grep -c 'Established connection' "$run/proxy.log" || true) connections through the proxy, $(grep -c 'Proxying refused' "$run/proxy.log" || true) refused"
    { grep 'Proxying refused' "$run/proxy.log" || true; } | sed 's/.*: //' | sort | uniq -c | head -5
  fi
  (cd "$top" && vagrant ssh-config) >"$run/ssh-config"

  on() {
    local i=$1
    shift
    ssh -F "$run/ssh-config" -o LogLevel=ERROR "node$i" sudo bash -c "$(printf '%q' "$*")"
  }
  outside() { "$@"; }
  host() { "$@"; } # the Vagrantfile forwards 127.0.0.1:(8087+K) to VM K's port 8088
  vm_checks "vagrant-test: $vms VMs from the Vagrantfile"
}

if [ "${1:-}" = inner ]; then inner; else outer; fi
