#!/usr/bin/env bash
# vm-image.sh CACHE: build (once) the Debian 12 VM image that vm-test.sh
# boots, and print the directory that holds it:
#   vmlinuz, initrd.img   the image's own kernel and initrd (QEMU boots them directly)
#   root.img              an ext4 root file system (each VM boots it with snapshot=on)
#   id_ed25519            the key root logs in with over ssh
#
# The image is what a Vagrant box of debian/bookworm64 is, less what a lab
# never uses: systemd, udev, ifupdown with dhclient on eth0 (Vagrant's NAT
# NIC) and a static eth1 (the private network), sshd, and the tools the labs
# and their checks run, installed now so that provisioning can run offline.
#
# It is built with debootstrap into a directory and made into an ext4 image
# with `mkfs.ext4 -d`, so nothing is mounted. The result is cached under
# CACHE/<key>, where key is a hash of this script: a change here builds a
# new image, and an unchanged script reuses the old one.
set -euo pipefail

cache=${1:?usage: vm-image.sh CACHE}
here=$(cd "$(dirname "$0")" && pwd)
key=$(sha256sum "$here/vm-image.sh" | cut -c1-16)
out=$cache/debian12-$key
if [ -s "$out/root.img" ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ]; then
  echo "$out"
  exit 0
fi

suite=bookworm
# The mirror apt uses here (a machine may have its own), else Debian's.
mirror=${DEBIAN_MIRROR:-$({ sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p; s/^deb  *\(http[^ ]*debian\)  *bookworm .*/\1/p' \
  /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list 2>/dev/null || true; } | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
# Kept short: every package is minutes under debootstrap and seconds of boot.
pkgs=(
  linux-image-amd64 initramfs-tools systemd-sysv udev kmod
  openssh-server ifupdown isc-dhcp-client netbase
  iproute2 iptables iputils-ping traceroute curl tcpdump iperf3 ethtool procps util-linux
  ca-certificates sudo rsync dbus ipset nftables
)

mkdir -p "$cache" # a fresh machine has none yet
work=$(mktemp -d "$cache/build.XXXXXX")
cleanup() {
  # debootstrap mounts /proc and /sys in the target while it runs: if it
  # was interrupted they may still be there. Unmount, then remove files
  # of this file system only, never anything a mount leads to.
  grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
root=$work/root
mkdir -p "$root"
start=$SECONDS
# Stage 1, the slow one: debootstrap, cached on its own (keyed by the suite
# and the packages), so that changing how the image is set up below does
# not download Debian again.
base=$cache/base-$(echo "$suite ${pkgs[*]}" | sha256sum | cut -c1-16).tar
if [ ! -s "$base" ]; then
  echo "vm-image: debootstrap $suite from $mirror (a few minutes, once)" >&2
  debootstrap --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" \
    "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    echo "vm-image: debootstrap failed (log above)" >&2
    exit 1
  }
  rm -f "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" --numeric-owner --one-file-system -cf "$work/base.tar" .
  mv "$work/base.tar" "$base"
else
  tar -C "$root" --numeric-owner -xf "$base"
fi

# A small initrd: only what finds a virtio disk and mounts ext4 on it.
cat >"$root/etc/initramfs-tools/conf.d/netlab.conf" <<'EOF'
MODULES=list
COMPRESS=gzip
EOF
printf '%s\n' virtio_pci virtio_blk ext4 >>"$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -u -k all >"$work/initramfs.log" 2>&1 || {
  cat "$work/initramfs.log" >&2; exit 1; }

# The VM's identity comes from the kernel command line (netlab.hostname=,
# netlab.ip=): one image serves every node.
cat >"$root/usr/local/sbin/netlab-vm-setup" <<'EOF'
#!/bin/sh
# netlab-vm-setup: name this VM and write its private network's
# configuration from the kernel command line, before networking starts.
for word in $(cat /proc/cmdline); do
  case "$word" in
  netlab.hostname=*) name=${word#*=} ;;
  netlab.ip=*) ip=${word#*=} ;;
  esac
done
[ -n "$name" ] && { echo "$name" >/etc/hostname; hostname "$name"; printf '127.0.1.1\t%s\n' "$name" >>/etc/hosts; }
[ -n "$ip" ] && printf 'auto eth1\niface eth1 inet static\n  address %s\n  netmask 255.255.255.0\n' "$ip" \
  >/etc/network/interfaces.d/eth1
exit 0
EOF
chmod 0755 "$root/usr/local/sbin/netlab-vm-setup"
cat >"$root/etc/systemd/system/netlab-vm-setup.service" <<'EOF'
[Unit]
Description=netlab VM identity from the kernel command line
DefaultDependencies=no
Before=networking.service network-pre.target
Wants=network-pre.target
After=local-fs.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/netlab-vm-setup
[Install]
WantedBy=sysinit.target
EOF
ln -sf /etc/systemd/system/netlab-vm-setup.service "$root/etc/systemd/system/sysinit.target.wants/netlab-vm-setup.service"
# eth0 is Vagrant's NAT NIC: DHCP from QEMU's user network (10.0.2.15,
# the default route via 10.0.2.2), as on every Vagrant VM.
cat >"$root/etc/network/interfaces" <<'EOF'
source /etc/network/interfaces.d/*
auto lo
iface lo inet loopback
auto eth0
iface eth0 inet dhcp
EOF
cat >"$root/etc/fstab" <<'EOF'
/dev/vda / ext4 rw,noatime 0 1
vagrant /vagrant 9p trans=virtio,version=9p2000.L,ro,nofail,x-systemd.device-timeout=10s 0 0
EOF
mkdir -p "$root/vagrant"
echo debian >"$root/etc/hostname"
# Root logs in with a key made for this image, and only with it; so does
# the user vagrant, with sudo, as in every Vagrant box (vagrant-test.sh).
install -d -m 0700 "$root/root/.ssh"
ssh-keygen -q -t ed25519 -N '' -C netlab-vm-test -f "$work/id_ed25519"
cp "$work/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
chroot "$root" useradd -m -s /bin/bash vagrant
install -d -m 0700 "$root/home/vagrant/.ssh"
install -m 0600 "$work/id_ed25519.pub" "$root/home/vagrant/.ssh/authorized_keys"
chroot "$root" chown -R vagrant:vagrant /home/vagrant/.ssh
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"
printf 'PermitRootLogin prohibit-password\nUseDNS no\n' >"$root/etc/ssh/sshd_config.d/netlab.conf"
# Boot quicker under emulation: no units a lab does not need.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
  systemd-timesyncd.service man-db.timer; do
  chroot "$root" systemctl disable "$unit" >/dev/null 2>&1 || true
done
chroot "$root" systemctl mask systemd-networkd-wait-online.service getty@tty1.service >/dev/null 2>&1 || true
# Less to copy: documentation, and the kernel's drivers for hardware a VM
# lacks (the image's kernel still has every module netfilter, bridges,
# VXLAN and virtio need).
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/var/cache/apt/archives/*.deb
for d in "$root"/lib/modules/*/kernel/drivers; do
  rm -rf "${d:?}"/{gpu,media,infiniband,staging,isdn,iio,hid,input/touchscreen,bluetooth,net/wireless,net/ethernet,scsi,usb,sound}
done
rm -rf "$root"/lib/modules/*/kernel/sound "$root"/lib/firmware
chroot "$root" depmod -a "$(basename "$root"/lib/modules/*)"

mkdir -p "$work/out"
cp "$root"/boot/vmlinuz-* "$work/out/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/out/initrd.img"
cp "$work/id_ed25519" "$work/out/id_ed25519"
truncate -s 3G "$work/out/root.img"
mkfs.ext4 -q -F -L root -d "$root" "$work/out/root.img"
rm -rf "$out"
mv "$work/out" "$out"
# Images of older versions of this script are of no more use.
for old in "$cache"/debian12-*; do
  [ "$old" = "$out" ] || rm -rf "$old"
done
echo "vm-image: built in $((SECONDS - start)) s: $out ($(du -sh --apparent-size "$out/root.img" | cut -f1) root, $(du -sh "$out/initrd.img" | cut -f1) initrd)" >&2
echo "$out"
