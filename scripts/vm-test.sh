#!/usr/bin/env bash
# vm-test.sh: both labs on real VMs, as a workshop runs them in Vagrant.
#
# Boots VMS (default 2) Debian 12 VMs with QEMU from the image vm-image.sh
# builds (and caches), each as a Vagrant VM is:
#   eth0  QEMU user networking with restrict=on: Vagrant's NAT NIC, 10.0.2.15
#         with the default route via 10.0.2.2, reaching nothing; the host's
#         127.0.0.1:(8087+K) forwarded to its port 8088, as the Vagrantfile
#         forwards netlab web's;
#   eth1  virtio-net on a bridge in a network namespace of this test's own:
#         the host-only network 192.168.56.0/24, where .1 is this host,
#         playing "outside", and node K is 192.168.56.(10+K), with
#         fd00:56::1 and fd00:56::(10+K) beside them (provision.sh);
#   /vagrant  this project tree, read-only over 9p (Vagrant's synced folder).
# It provisions each VM with scripts/provision.sh, the script Vagrant runs
# (offline: the tools are in the image, netlab is bin/netlab built here),
# then runs the truths of both models inside the VMs, across their two
# kernels, and checks that `netlab down` leaves each VM as it was.
#
# Nothing is added to this machine's own network namespace: QEMU runs in
# the test's namespace, its ssh port forward listens there. Everything it
# started is removed at the end, also when interrupted.
#
#   VMS=3           three VMs
#   ACCEL=kvm       real KVM where there is one (default: TCG, emulation)
#   NETLAB_VM_CACHE where the image is cached (default /var/cache/netlab/vm)
#   KEEP=1          leave the VMs running at the end (ssh: see the log)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
top=$PWD
vms=${VMS:-2}
accel=${ACCEL:-tcg}
cache=${NETLAB_VM_CACHE:-/var/cache/netlab/vm}
subnet=192.168.56
started=$SECONDS

# shellcheck source=scripts/vm-checks.sh
source scripts/vm-checks.sh
preflight vm-test qemu-system-x86_64 debootstrap mkfs.ext4 ssh ssh-keygen curl
case "$accel" in
tcg) accel_args=(-accel "tcg,thread=multi,tb-size=64" -cpu max) ;;
kvm) accel_args=(-accel kvm -cpu host) ;;
*) echo "vm-test: ACCEL is tcg or kvm, not $accel" >&2; exit 2 ;;
esac

ns=nlvm-$$ # the test's own namespace: the host-only network, and QEMU
run=$(mktemp -d /tmp/netlab-vm-test.XXXXXX)
pids=()
cleanup() {
  local rc=$?
  if [ "${KEEP:-0}" = 1 ]; then
    echo "KEEP=1: VMs left running (pids ${pids[*]}); namespace $ns; files in $run"
    return
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  ip netns del "$ns" 2>/dev/null || true
  if [ "$rc" != 0 ] && [ -d "$run" ]; then
    for f in "$run"/node*.console; do
      [ -f "$f" ] && { echo "--- last lines of $(basename "$f")"; tail -15 "$f"; }
    done
  fi
  rm -rf "$run"
}
trap cleanup EXIT
trap 'echo "vm-test: interrupted"; exit 130' INT TERM HUP

say() { printf '%s\n' "$*"; }
phase() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - started)); }

phase "VM image"
image=$(scripts/vm-image.sh "$cache")
cp "$image/id_ed25519" "$run/key"
chmod 0600 "$run/key"

phase "host-only network $subnet.0/24 in namespace $ns, this host at $subnet.1"
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add vboxnet0 type bridge
ip -n "$ns" addr add "$subnet.1/24" dev vboxnet0
# Its IPv6 address, for the dual-stack checks: the outside host's fd00:56::1.
ip -n "$ns" addr add fd00:56::1/64 dev vboxnet0 nodad
ip -n "$ns" link set vboxnet0 up

phase "booting $vms VMs ($accel)"
for i in $(seq "$vms"); do
  ip -n "$ns" tuntap add "tap$i" mode tap
  ip -n "$ns" link set "tap$i" master vboxnet0 up
  # exec: the PID is QEMU's, to kill by it.
  ip netns exec "$ns" qemu-system-x86_64 -name "node$i" "${accel_args[@]}" -smp 1 -m 1024 \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet netlab.hostname=node$i netlab.ip=$subnet.$((10 + i))" \
    -drive "file=$image/root.img,format=raw,if=virtio,snapshot=on" \
    -netdev "user,id=nat,restrict=on,hostfwd=tcp:127.0.0.1:$((2200 + i))-:22,hostfwd=tcp:127.0.0.1:$((8087 + i))-:8088" \
    -device "virtio-net-pci,netdev=nat,mac=52:54:00:12:35:0$i" \
    -netdev "tap,id=private,ifname=tap$i,script=no,downscript=no" \
    -device "virtio-net-pci,netdev=private,mac=52:54:00:56:00:1$i" \
    -virtfs "local,path=$top,mount_tag=vagrant,security_model=none,readonly=on" \
    -display none -monitor none -serial "file:$run/node$i.console" -no-reboot \
    >"$run/node$i.qemu.log" 2>&1 &
  pids+=($!)
done

# on K CMD: run CMD (a shell command line) as root on VM K.
on() {
  local i=$1
  shift
  ip netns exec "$ns" ssh -F none -i "$run/key" -p $((2200 + i)) -o BatchMode=yes -o ConnectTimeout=10 \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 "$@"
}
for i in $(seq "$vms"); do
  deadline=$((SECONDS + 300))
  until on "$i" true 2>/dev/null; do
    if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then
      echo "vm-test: QEMU of node$i exited:" >&2
      cat "$run/node$i.qemu.log" >&2
      exit 1
    fi
    if [ $SECONDS -gt $deadline ]; then
      echo "vm-test: node$i did not answer ssh in 300 s" >&2
      exit 1
    fi
    sleep 2
  done
  say "node$i is up: $(on "$i" 'uname -r; ip -br -4 addr show eth0; ip -br -4 addr show eth1; ip route show default' | tr '\n' ' ')"
done

phase "provisioning with scripts/provision.sh (offline)"
for i in $(seq "$vms"); do
  on "$i" "NETLAB_OFFLINE=1 bash /vagrant/scripts/provision.sh node$i $vms $subnet" | sed "s/^/  node$i: /"
done

# The checks, the same for every way of making the VMs (vagrant-test.sh too).
outside() { ip netns exec "$ns" "$@"; }
# host CMD...: run CMD on the host, where the VMs' forwarded ports are.
host() { ip netns exec "$ns" "$@"; }
vm_checks "vm-test: $vms VMs, $accel"
