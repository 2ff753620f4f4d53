/**
 * What `edgebox install` knows of a module before it changes anything: one POSIX shell script run
 * over SSH (PROBE_SCRIPT: nothing but coreutils and /proc, which every module has), its output
 * parsed here. Pure but for the script's text; preflight and the install plan read only this.
 */

export interface UnitState {
  /** The unit file exists. */
  loaded: boolean;
  active: boolean;
  enabled: boolean;
}

export interface ModuleFacts {
  /** `uname -m`: aarch64, x86_64, ... */
  machine: string;
  /** /etc/os-release PRETTY_NAME. */
  os: string;
  /** `getconf GNU_LIBC_VERSION`: undefined where it is not glibc. */
  glibc?: string;
  memTotalBytes: number;
  /** Free bytes on the filesystem of /var/lib (K3s's data, etcd, the agent's runtime). */
  diskFreeBytes: number;
  /** The module's clock minus this machine's, sampled at the middle of the probe's round trip. */
  clockOffsetMs: number;
  /** systemd's own word, where the module has timedatectl. */
  ntpSynchronized?: boolean;
  systemd: boolean;
  cgroupControllers: string[];
  /** TCP ports something listens on (any address). */
  listening: number[];
  /** /proc/device-tree/model, on boards that have one. */
  model?: string;
  /** Network interfaces: `can0` tells a CAN bus is there. */
  interfaces: string[];
  /** What `/usr/local/bin/k3s --version` says, if it is installed. */
  k3sVersion?: string;
  /** sha256 of each file the install manages (absent: no such file). */
  files: Record<string, string>;
  units: Record<string, UnitState>;
  /** K3s has an etcd member's data here: it has served (or joined) before. Snapshots alone do not count. */
  k3sServerData: boolean;
  /** The version of edgebox the wrapper on the module runs. */
  edgeboxVersion?: string;
}

/** The units the install manages. */
export const UNITS = ['k3s', 'k3s-agent', 'edgebox-agent'] as const;

/**
 * Arguments: the paths whose digests the plan compares. Prints `key=value` lines; a value never
 * holds a newline. Reads only: a probe changes nothing on the module.
 */
export const PROBE_SCRIPT = String.raw`
set +e
echo "machine=$(uname -m)"
. /etc/os-release 2>/dev/null; echo "os=$PRETTY_NAME"
echo "glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed 's/^glibc //')"
echo "memtotal_kib=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)"
d=/var/lib; [ -d "$d" ] || d=/
echo "disk_free_kib=$(df -Pk "$d" | awk 'NR==2 {print $4}')"
if command -v timedatectl >/dev/null 2>&1; then echo "ntp=$(timedatectl show -p NTPSynchronized --value 2>/dev/null)"; fi
if [ -d /run/systemd/system ] || command -v systemctl >/dev/null 2>&1; then echo "systemd=yes"; fi
echo "cgroup=$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null || awk 'NR>1 && $4==1 {printf "%s ", $1}' /proc/cgroups)"
echo "listening=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4=="0A" {split($2,a,":"); printf "%s ", a[2]}')"
[ -r /proc/device-tree/model ] && echo "model=$(tr -d '\0' < /proc/device-tree/model)"
echo "interfaces=$(ls /sys/class/net 2>/dev/null | tr '\n' ' ')"
# What an earlier probe read, by file identity (device, inode, size, mtime, ctime: install writes
# by rename, so a new file is a new inode): a re-run hashes again only what changed. Kept in
# install's own directory, and only once it exists: preflight writes nothing on a new module.
rec=$EDGEBOX_PROBE_RECORD; [ -n "$rec" ] || rec=/var/lib/edgebox/probe-record
known() { [ -f "$rec" ] && awk -v k="$1" -v id="$2" '$1==k && $2==id {print $3; exit}' "$rec"; }
new=
if [ -x /usr/local/bin/k3s ]; then
  id=$(stat -c '%d:%i:%s:%Y:%Z' /usr/local/bin/k3s)
  v=$(known version "$id")
  [ -n "$v" ] || v=$(/usr/local/bin/k3s --version 2>/dev/null | sed -n 's/^k3s version \([^ ]*\).*/\1/p')
  echo "k3s_version=$v"
  [ -n "$v" ] && new="$new""version $id $v
"
fi
[ -d /var/lib/rancher/k3s/server/db/etcd ] && echo "k3s_server_data=yes"
[ -x /usr/local/bin/edgebox ] && echo "edgebox_version=$(/usr/local/bin/edgebox --version 2>/dev/null | head -1)"
for f in "$@"; do
  [ -f "$f" ] || continue
  id=$(stat -c '%d:%i:%s:%Y:%Z' "$f")
  d=$(known "$f" "$id")
  [ -n "$d" ] || d=$(sha256sum "$f" | cut -d' ' -f1)
  echo "file=$d $f"
  new="$new$f $id $d
"
done
[ -d "$(dirname "$rec")" ] && printf '%s' "$new" > "$rec.tmp" && mv "$rec.tmp" "$rec"
for u in k3s k3s-agent edgebox-agent; do
  loaded=no; [ -f "/etc/systemd/system/$u.service" ] && loaded=yes
  active=$(systemctl is-active "$u" 2>/dev/null)
  enabled=$(systemctl is-enabled "$u" 2>/dev/null)
  echo "unit=$u $loaded $active $enabled"
done
`;

/**
 * The module's clock, read by a command of its own (CLOCK_COMMAND) right before the probe: in the
 * probe it would be compared with the middle of a round trip that hashes a K3s binary (a second
 * or two), and a module in sync would look seconds off.
 */
export const CLOCK_COMMAND = 'date +%s%3N';

/**
 * Parses PROBE_SCRIPT's output, with `clock_ms=<CLOCK_COMMAND's output>` added. `sentAt`/
 * `receivedAt`: this machine's clock around CLOCK_COMMAND, so the module's clock is compared with
 * the middle of that short round trip.
 */
export function parseFacts(text: string, sentAt: number, receivedAt: number): ModuleFacts {
  const single = new Map<string, string>();
  const files: Record<string, string> = {};
  const units: Record<string, UnitState> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1).trim();
    if (key === 'file') {
      const [digest, ...path] = value.split(' ');
      if (digest && path.length) files[path.join(' ')] = digest;
    } else if (key === 'unit') {
      const [name, loaded, active, enabled] = value.split(' ');
      if (name) units[name] = { loaded: loaded === 'yes', active: active === 'active', enabled: enabled === 'enabled' };
    } else single.set(key, value);
  }
  const num = (k: string): number => Number(single.get(k) ?? NaN);
  const words = (k: string): string[] => (single.get(k) ?? '').split(/\s+/).filter(Boolean);
  const text_ = (k: string): string | undefined => single.get(k) || undefined;
  const clock = num('clock_ms');
  const ntp = single.get('ntp');
  const glibc = text_('glibc');
  const model = text_('model');
  const k3sVersion = text_('k3s_version');
  const edgeboxVersion = text_('edgebox_version');
  return {
    machine: single.get('machine') ?? 'unknown',
    os: single.get('os') || 'unknown',
    ...(glibc ? { glibc } : {}),
    memTotalBytes: num('memtotal_kib') * 1024,
    diskFreeBytes: num('disk_free_kib') * 1024,
    clockOffsetMs: Number.isFinite(clock) ? Math.round(clock - (sentAt + receivedAt) / 2) : NaN,
    ...(ntp ? { ntpSynchronized: ntp === 'yes' } : {}),
    systemd: single.get('systemd') === 'yes',
    cgroupControllers: words('cgroup'),
    listening: [...new Set(words('listening').map((h) => parseInt(h, 16)))].filter(Number.isFinite).sort((a, b) => a - b),
    ...(model ? { model } : {}),
    interfaces: words('interfaces'),
    ...(k3sVersion ? { k3sVersion } : {}),
    files,
    units,
    k3sServerData: single.get('k3s_server_data') === 'yes',
    ...(edgeboxVersion ? { edgeboxVersion } : {}),
  };
}

/** `uname -m` as Kubernetes names architectures. */
export function kubeArch(machine: string): 'arm64' | 'amd64' | undefined {
  if (machine === 'aarch64' || machine === 'arm64') return 'arm64';
  if (machine === 'x86_64' || machine === 'amd64') return 'amd64';
  return undefined;
}
