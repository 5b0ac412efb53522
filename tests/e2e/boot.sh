#!/bin/bash
# Boots a throwaway systemd as PID 1 of fresh PID/mount/UTS/IPC namespaces, for the
# end-to-end tests (see /work/shared/notes/real-systemd-in-tests.md):
#   bash tests/e2e/boot.sh BOX CGROUP     (as root; it enters the namespaces itself)
# BOX (under /var/lib, never /tmp or /run) holds:
#   BOX/units/              unit files, copied to /run/systemd/system (the ONLY unit path)
#   BOX/passwd, BOX/group   /etc/passwd and /etc/group plus the service's user
# CGROUP: a fresh name; every cgroup of the sandbox is created below it, in each
# hierarchy, so that the caller can remove them all afterwards.
#
# The disk, /sys, /dev and the kernel are shared with the host: everything below
# either changes only this mount namespace or is undone by the caller.
set -euo pipefail

refuse() {
    echo "boot.sh: $*; refusing" >&2
    exit 1
}

# Three stages, each exec'ing the next, so that no mount below can ever be made in the
# caller's mount namespace, however this script is started:
#   1. (no flag)  new PID, mount, UTS and IPC namespaces; stage 2 runs as their PID 1
#   2. --pid1     notes its mount namespace and makes yet another one, itself
#   3. --ready    checks it is PID 1 in a mount namespace that stage 2 did not have
case ${1:-} in
--pid1)
    shift
    [ "$$" = 1 ] || refuse "stage 2 is not PID 1 of a new PID namespace"
    outer=$(readlink /proc/self/ns/mnt)
    exec unshare --mount --propagation private -- /bin/bash "$0" --ready "$outer" "$@"
    ;;
--ready)
    outer=${2:-}
    shift 2
    ;;
*)
    [ "$(id -u)" = 0 ] || refuse "not root"
    exec unshare --pid --fork --kill-child --mount --propagation private --uts --ipc \
        -- /bin/bash "$0" --pid1 "$@"
    ;;
esac

box=${1:-}
cgroup=${2:-}
# Fail closed: an unreadable namespace link is an empty string, never a pass.
inner=$(readlink /proc/self/ns/mnt || true)
[ "$$" = 1 ] || refuse "not PID 1 of a new PID namespace"
[ -n "$outer" ] && [ -n "$inner" ] && [ "$outer" != "$inner" ] ||
    refuse "not in a mount namespace of its own ($inner, outer $outer)"
[ -d "$box/units" ] || refuse "$box/units missing"
case $cgroup in imagegen-e2e-*) ;; *) refuse "bad cgroup name '$cgroup'" ;; esac

# Nothing mounted below may propagate back to the host's mount namespace.
mount --make-rprivate /
mount -t proc proc /proc

# Private /run, /tmp, /var/tmp: sockets, credentials and PrivateTmp= stay in RAM of
# this namespace; and the persistent journal directory, so journald writes nothing to
# the host's disk.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
if [ -d /var/log/journal ]; then
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /var/log/journal
fi

# PID 1 takes its own cgroup as the root of everything it manages. Move into a fresh
# cgroup in every hierarchy (not v1 cpuset: a child there needs cpus/mems set up
# first, and systemd does not use it) so that init.scope, system.slice/... land
# below it instead of at the host's cgroup root.
while read -r mnt fstype opts; do
    case $fstype in cgroup | cgroup2) ;; *) continue ;; esac
    case ",$opts," in *,cpuset,*) continue ;; esac
    mkdir -p "$mnt/$cgroup"
    echo $$ >"$mnt/$cgroup/cgroup.procs"
done < <(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { print $5, $(i + 1), $(i + 3); break } }' \
    /proc/self/mountinfo)

# On cgroup v1/hybrid hosts /sys/fs/cgroup is a tmpfs, and PID 1 creates directories
# in it and finally remounts it read-only: without a private tmpfs that remount hits
# the host's (shared) superblock. The hierarchies are bound into a private tmpfs.
if [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ]; then
    mkdir /run/.cgroup
    mount -t tmpfs -o mode=0755,nosuid,nodev,noexec tmpfs /run/.cgroup
    for entry in /sys/fs/cgroup/*; do
        name=${entry##*/}
        if [ -L "$entry" ]; then
            cp -P "$entry" "/run/.cgroup/$name"
        elif [ -d "$entry" ]; then
            mkdir "/run/.cgroup/$name"
            if mountpoint -q "$entry"; then
                mount --bind "$entry" "/run/.cgroup/$name"
            fi
        fi
    done
    mount --move /run/.cgroup /sys/fs/cgroup
    rmdir /run/.cgroup
fi

# Read-only /proc/sys: PID 1 raises fs.file-max and net.unix.max_dgram_qlen at boot,
# which are global. remount,bind changes this mount's flags only, never a superblock.
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys

# A private /dev: the host's /dev is a shared devtmpfs, and PID 1 and socket units
# create entries there (/dev/core, the /dev/log symlink). Only the basic nodes are
# bound in; PrivateDevices= of the unit builds its own /dev from these.
mkdir /run/.dev
mount -t tmpfs -o mode=0755,nosuid tmpfs /run/.dev
for node in null zero full random urandom tty; do
    touch "/run/.dev/$node"
    mount --bind "/dev/$node" "/run/.dev/$node"
done
mkdir /run/.dev/pts /run/.dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /run/.dev/pts
ln -s pts/ptmx /run/.dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /run/.dev/shm
ln -s /proc/self/fd /run/.dev/fd
ln -s /proc/self/fd/0 /run/.dev/stdin
ln -s /proc/self/fd/1 /run/.dev/stdout
ln -s /proc/self/fd/2 /run/.dev/stderr
mount --move /run/.dev /dev
rmdir /run/.dev

# The service's user exists only in here: the host's user database is untouched.
mount --bind "$box/passwd" /etc/passwd
mount --bind "$box/group" /etc/group

# No generators: they would read the host's fstab, disks and init scripts to write
# units nobody here needs (and the unit path below would ignore their output anyway).
for dir in /usr/lib/systemd/system-generators /usr/lib/systemd/system-environment-generators; do
    if [ -d "$dir" ]; then
        mount -t tmpfs -o ro,mode=0755 tmpfs "$dir"
    fi
done

mkdir -p /run/systemd/system
cp -a "$box/units/." /run/systemd/system/

# Shared propagation again, but only among this namespace's mounts (the rprivate above
# cut every peer link to the host's). PID 1 makes / shared itself except in a
# container, and needs it: LoadCredential= builds the credentials in a child mount
# namespace and moves them to /run/credentials/<unit>, which reaches PID 1's (and so
# the service's) view only through propagation. Without it the service finds an empty
# root-only /run/credentials/imagegen.service (EACCES).
mount --make-rshared /

# SYSTEMD_UNIT_PATH without a trailing ":" makes /run/systemd/system the ONLY unit
# directory: no unit of the host (sysinit.target, systemd-tmpfiles-setup, ...) can be
# pulled in, whatever the unit under test depends on. container=other makes PID 1
# and systemd-shutdown act as in a container: no remount of /, no unmounting, no
# cgroup release agent, no kernel.core_pattern change.
exec env -i container=other SYSTEMD_UNIT_PATH=/run/systemd/system \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    /lib/systemd/systemd --system --unit=sandbox.target --log-target=journal \
    --show-status=no
