"""The real-time profile: what the box's kernel, command line, huge pages, IRQs and CPU governor should be, checked.

Settings (`[service.realtime]` in /etc/egret/*.toml): `enabled`, `isolated_cpus` (a CPU list such as "2-3": no
housekeeping, no timer ticks, no RCU callbacks, no IRQs; compute pins guests there), `hugepages_2m`,
`hugepages_1g`, `governor` ("performance"). `check` compares them with the running system (`root` is "/" on a box;
tests give a tree of their own) and says which differences need a reboot (kernel and command line) and which
`apply_runtime` can fix in place (IRQ affinity, governor).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULTS = {"enabled": False, "isolated_cpus": "", "hugepages_2m": 0, "hugepages_1g": 0, "governor": "performance"}
# the wizard's choice goes into a settings file of its own (in the config directory), which `egret realtime apply`
# (egret-realtime.service, at every boot and when the wizard sets the profile) reads with the others
CONFIG_FILE = "realtime.toml"
# huge pages reserved at boot are gone for everything else: at most this share of the box's memory
MAX_HUGEPAGE_SHARE = 0.5


def parse_cpulist(text: str) -> list[int]:
    """The kernel's CPU list syntax ("0-2,5") as sorted CPU numbers; ValueError for anything else."""
    cpus: set[int] = set()
    for part in str(text or "").replace("\n", "").split(","):
        part = part.strip()
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        first, last = int(lo), int(hi) if dash else int(lo)
        if first < 0 or last < first:
            raise ValueError(f"invalid CPU range {part!r}")
        cpus.update(range(first, last + 1))
    return sorted(cpus)


def cpulist(cpus) -> str:
    """CPU numbers in the kernel's list syntax, ranges folded ("0-2,5")."""
    runs: list[list[int]] = []
    for cpu in sorted(set(cpus)):
        if runs and cpu == runs[-1][-1] + 1:
            runs[-1].append(cpu)
        else:
            runs.append([cpu])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def profile(settings) -> dict:
    return {**DEFAULTS, **settings.section("realtime")}


def kernel_args(prof: dict, cpus: int) -> list[str]:
    """The command line the profile needs on a box with `cpus` CPUs (what the boot entry must carry)."""
    isolated = parse_cpulist(prof["isolated_cpus"])
    housekeeping = sorted(set(range(cpus)) - set(isolated))
    args = []
    if isolated:
        iso = cpulist(isolated)
        args += [f"isolcpus=managed_irq,domain,{iso}", f"nohz_full={iso}", f"rcu_nocbs={iso}"]
        if housekeeping:
            args.append(f"irqaffinity={cpulist(housekeeping)}")
    if prof["hugepages_2m"]:
        args += ["hugepagesz=2M", f"hugepages={prof['hugepages_2m']}"]
    if prof["hugepages_1g"]:
        args += ["hugepagesz=1G", f"hugepages={prof['hugepages_1g']}"]
    return args


@dataclass
class Finding:
    item: str
    want: str
    have: str
    reboot: bool            # True: only a reboot (into the right kernel and command line) fixes it

    @property
    def ok(self) -> bool:
        return self.want == self.have


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def preempt_rt(root: Path = Path("/")) -> bool:
    # /sys/kernel/realtime comes with the RT patch set (Debian's -rt kernels); the version string says it too
    return _read(root / "sys/kernel/realtime") == "1" or "PREEMPT_RT" in (_read(root / "proc/sys/kernel/version") or "")


def isolated_now(root: Path = Path("/")) -> str:
    """The CPUs the running kernel isolated (its command line's isolcpus), in list syntax; "" for none."""
    return _read(root / "sys/devices/system/cpu/isolated") or ""


def possible_cpus(root: Path = Path("/")) -> int:
    return len(parse_cpulist(_read(root / "sys/devices/system/cpu/possible") or "0"))


def memory_kib(root: Path = Path("/")) -> int:
    for line in (_read(root / "proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def problems(isolated_cpus: str, hugepages_2m: int, cpus: int, mem_kib: int) -> list[tuple[str, str]]:
    """(field, message) for each setting a box with `cpus` CPUs and `mem_kib` of memory cannot have."""
    found = []
    try:
        isolated = parse_cpulist(isolated_cpus)
    except ValueError:
        isolated = None
        found.append(("isolated_cpus", f"Isolated CPUs: {isolated_cpus!r} is not a CPU list such as 2-3 or 1,3."))
    if isolated and isolated[-1] >= cpus:
        found.append(("isolated_cpus", f"Isolated CPUs: this box has CPUs 0-{cpus - 1}; there is no CPU {isolated[-1]}."))
    elif isolated and len(isolated) >= cpus:
        found.append(("isolated_cpus", "Isolated CPUs: leave at least one CPU for the host (housekeeping)."))
    if hugepages_2m * 2048 > mem_kib * MAX_HUGEPAGE_SHARE:
        found.append(("hugepages_2m", f"2 MB huge pages: {hugepages_2m} pages ({hugepages_2m * 2} MB) is more than "
                                      f"half of this box's memory ({mem_kib // 1024} MB)."))
    return found


def check(prof: dict, root: Path = Path("/")) -> list[Finding]:
    """Every item of the profile against the running system."""
    cpus = possible_cpus(root)
    cmdline = (_read(root / "proc/cmdline") or "").split()
    isolated = parse_cpulist(prof["isolated_cpus"])
    findings = [Finding("PREEMPT_RT kernel", "yes", "yes" if preempt_rt(root) else "no",
                        reboot=True)]
    for arg in kernel_args(prof, cpus):
        findings.append(Finding(f"kernel argument {arg.split('=')[0]}", arg, arg if arg in cmdline else "absent",
                                reboot=True))
    if isolated:
        findings.append(Finding("isolated CPUs", cpulist(isolated),
                                cpulist(parse_cpulist(isolated_now(root))) or "none",
                                reboot=True))
        housekeeping = sorted(set(range(cpus)) - set(isolated))
        default = _read(root / "proc/irq/default_smp_affinity")
        findings.append(Finding("IRQ default affinity", cpulist(housekeeping),
                                cpulist(_mask_cpus(default)) if default else "unknown", reboot=False))
    for size, count in (("2048kB", prof["hugepages_2m"]), ("1048576kB", prof["hugepages_1g"])):
        if count:
            have = _read(root / f"sys/kernel/mm/hugepages/hugepages-{size}/nr_hugepages") or "0"
            findings.append(Finding(f"huge pages {size}", str(count), have, reboot=True))
    governors = {g for g in (_read(p) for p in sorted(root.glob("sys/devices/system/cpu/cpu[0-9]*/cpufreq/"
                                                                  "scaling_governor"))) if g}
    if governors:           # a VM or a box without cpufreq has no governor to set
        findings.append(Finding("CPU governor", prof["governor"], ",".join(sorted(governors)), reboot=False))
    return findings


def _mask_cpus(mask: str) -> list[int]:
    """/proc/irq/*/smp_affinity's hex mask (comma-separated 32-bit words) as CPU numbers."""
    value = int(mask.replace(",", ""), 16)
    return [cpu for cpu in range(value.bit_length()) if value >> cpu & 1]


def apply_runtime(prof: dict, root: Path = Path("/")) -> list[str]:
    """Fix in place what needs no reboot: IRQs off the isolated CPUs, the CPU governor. Returns what it changed."""
    changed = []
    isolated = parse_cpulist(prof["isolated_cpus"])
    housekeeping = sorted(set(range(possible_cpus(root))) - set(isolated))
    if isolated and housekeeping:
        mask = format(sum(1 << c for c in housekeeping), "x")
        targets = [root / "proc/irq/default_smp_affinity"] + sorted(root.glob("proc/irq/[0-9]*/smp_affinity"))
        for path in targets:
            try:
                if _read(path) is not None and _mask_cpus(_read(path)) != housekeeping:
                    path.write_text(mask)
                    changed.append(str(path.relative_to(root)))
            except OSError:
                continue        # some IRQs (per-CPU timers) cannot move; the kernel says so with EIO
    for path in sorted(root.glob("sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor")):
        if _read(path) != prof["governor"]:
            path.write_text(prof["governor"])
            changed.append(str(path.relative_to(root)))
    return changed


def status_lines(prof: dict, root: Path = Path("/")) -> list[str]:
    """`egret status`'s report: the profile matches, or what differs and what needs a reboot."""
    bad = [f for f in check(prof, root) if not f.ok]
    if not bad:
        return ["Real-time profile: matches the running system"]
    lines = ["Real-time profile: does NOT match the running system"]
    for f in bad:
        lines.append(f"  {f.item}: want {f.want}, have {f.have}" + ("  (needs a reboot)" if f.reboot else ""))
    return lines
