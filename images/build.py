#!/usr/bin/env python3
"""`make image`: the Debian-built Egret appliance image (GPT raw-efi, A/B root slots) from services/manifest.toml.

Stage 1 (cached by its inputs under /var/cache/egret-image): mmdebstrap bookworm with systemd, kernel, libvirt,
qemu, dnsmasq, nftables, lvm2. Stage 2 (every run): the Egret wheel from this worktree into /opt/egret, units
generated from the manifest, then the disk assembled without loop devices or mounts (mkfs -d, mtools, sfdisk,
dd). Outputs in --out: egret-<arch>.raw (+ .sha256), .update.tar (A/B bundle), .packages.txt, build.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance.image import bundle, signing  # noqa: E402
from appliance.image import postgres  # noqa: E402
from appliance.image import units as unitgen  # noqa: E402
from appliance.image.slots import KERNEL_FILES, entry_text  # noqa: E402
from appliance.manifest import load_manifest  # noqa: E402
from images import files, rootfs  # noqa: E402

ESP_MB, ROOT_MB, DATA_MB = 256, 2048, 1024
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


def run(cmd, **kw):
    kw.setdefault("check", True)
    if cmd[0] == "chroot":
        # the host's pip settings (find-links, certificates) point at host paths
        kw.setdefault("env", {k: v for k, v in os.environ.items() if not k.startswith("PIP_")})
    return subprocess.run(cmd, **kw)


def present_units(manifest_path: Path, repo: Path) -> tuple[dict, list[str]]:
    """Units a box runs whose app module is in this tree (every box's, and the node agents a site's boxes run);
    the rest are listed (other optional ones, or not merged yet)."""
    units = load_manifest(manifest_path)
    keep, omitted = {}, []
    for name, unit in units.items():
        # a federation hub is its own deployment, not part of every box; node agents run on a site's boxes
        if unit.extra.get("optional") and not unitgen.site_node(unit):
            omitted.append(name)
            continue
        module = unit.app.split(":")[0]
        rel = Path(*module.split("."))
        if (repo / rel).with_suffix(".py").exists() or (repo / rel / "__init__.py").exists():
            keep[name] = unit
        else:
            omitted.append(name)
    return keep, omitted


# wheel platform tags a bookworm userland (glibc 2.36) runs, per image architecture
WHEEL_MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
GLIBC_MINOR = 36


def build_wheels(dest: Path, arch: str, log) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    venv_py = REPO / ".venv" / "bin" / "python"
    py = str(venv_py) if venv_py.exists() else sys.executable
    if WHEEL_MACHINES[arch] == os.uname().machine:
        # the same interpreter ABI as the image (bookworm's python3.11), so binary wheels fit
        run([py, "-m", "pip", "wheel", "-q", "--wheel-dir", str(dest), str(REPO)], cwd=str(REPO))
    else:
        # another architecture: Egret itself is pure Python; its dependencies come as the target's
        # binary wheels (building them here would give wheels for this machine's CPU)
        deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
        machine = WHEEL_MACHINES[arch]
        platforms = ["linux_" + machine, *(f"manylinux_2_{m}_{machine}" for m in range(17, GLIBC_MINOR + 1))]
        run([py, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dest), str(REPO)], cwd=str(REPO))
        run([py, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version", "3.11",
             "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none",
             *(f"--platform={p}" for p in platforms), "--dest", str(dest), *deps])
    log(f"wheels: {len(list(dest.glob('*.whl')))} in {dest}")


def customize(root: Path, arch: str, wheels: Path, units: dict, omitted: list[str], version: str, log,
              key=None) -> dict:
    a = rootfs.ARCHES[arch]
    shutil.copytree(wheels, root / "tmp/wheels")
    run(["chroot", str(root), "python3", "-m", "venv", "--system-site-packages", "/opt/egret"])
    run(["chroot", str(root), "/opt/egret/bin/pip", "install", "-q", "--no-index", "--no-cache-dir",
         "--find-links", "/tmp/wheels", "egret"])
    shutil.rmtree(root / "tmp/wheels")
    log("venv: /opt/egret")
    generated = unitgen.generate(units)
    sysd = root / "etc/systemd/system"
    service_units = list(generated["units"])
    for name, sections in generated["units"].items():
        (sysd / name).write_text(unitgen.render(sections))
    # no test hooks here: the QEMU fw_cfg hook units are a layer the tests add to a copy (images/testlayer.py)
    extra = {"egret-state.service": files.STATE_UNIT, "egret-console.service": files.CONSOLE_UNIT,
             "egret-health.service": files.health_unit(service_units), "egret-realtime.service": files.REALTIME_UNIT}
    for name, text in extra.items():
        (sysd / name).write_text(text)
    (root / "usr/lib/sysusers.d/egret.conf").write_text(unitgen.sysusers(generated))
    (root / "usr/lib/tmpfiles.d/egret.conf").write_text(unitgen.tmpfiles())
    run(["systemd-sysusers", f"--root={root}"])
    share = root / "usr/share/egret"
    share.mkdir(parents=True, exist_ok=True)
    (share / "00-image.toml").write_text(files.IMAGE_TOML)
    if key is not None:
        # `egret update apply` on this image accepts only updates signed by this build machine's key
        trusted = root / str(signing.TRUSTED_DIR).lstrip("/")
        trusted.mkdir(parents=True, exist_ok=True)
        (trusted / "build.pub").write_bytes(signing.public_pem(key.public_key()))
    # "units": what every set-up box runs; "site_units": what a box in a site runs besides (appliance/image/health.py)
    site_units = sorted(n for n, u in units.items() if unitgen.site_node(u))
    info = {"version": version, "arch": arch, "units": sorted(set(units) - set(site_units)),
            "site_units": site_units, "omitted_units": omitted,
            "update_key": signing.key_id(key.public_key()) if key is not None else None,
            "service_units": service_units, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (share / "image.json").write_text(json.dumps(info, indent=1))
    etc_egret = root / "etc/egret"
    if etc_egret.is_dir() and not etc_egret.is_symlink():
        shutil.rmtree(etc_egret)
    # config lives on the data partition so it survives A/B updates
    os.symlink("/var/lib/egret/config", etc_egret)
    (root / "var/lib/egret").mkdir(parents=True, exist_ok=True)
    (root / "boot/efi").mkdir(parents=True, exist_ok=True)
    (root / "etc/fstab").write_text(files.FSTAB)
    (root / "usr/lib/sysctl.d").mkdir(parents=True, exist_ok=True)
    (root / "usr/lib/sysctl.d" / files.SYSCTL_NAME).write_text(files.SYSCTL)
    (root / "etc/hostname").write_text("egret\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 egret\n::1 localhost ip6-localhost\n")
    (root / "etc/systemd/network/80-egret-dhcp.network").write_text(files.NETWORK)
    run(["systemctl", f"--root={root}", "enable", "systemd-networkd.service", *service_units, *extra],
        capture_output=True)
    # nothing here needs a routable address before starting; do not wait minutes for DHCP on every NIC
    run(["systemctl", f"--root={root}", "mask", "systemd-networkd-wait-online.service"], capture_output=True)
    # Debian's tgt enables a system tgtd (every address at port 3260, control port 0, /run/tgtd as root): the
    # storage unit starts its own, on its portal, in its own /run/tgtd (services/manifest.toml runtime_dir)
    run(["systemctl", f"--root={root}", "mask", "tgt.service"], capture_output=True)
    database_server(root, sysd, log)
    run(["chroot", str(root), "passwd", "-l", "root"], capture_output=True)
    return {**info, **kernels(root), "console": a["console"]}


def kernels(root: Path) -> dict:
    """The rootfs's kernel versions: "kernel" the generic one, "rt_kernel" the PREEMPT_RT one (None without)."""
    found = sorted(p.name[len("vmlinuz-"):] for p in (root / "boot").glob("vmlinuz-*"))
    generic = [k for k in found if "-rt-" not in k]
    rt = [k for k in found if "-rt-" in k]
    if not generic:
        raise SystemExit(f"{root}/boot has no generic kernel")
    return {"kernel": generic[-1], "rt_kernel": rt[-1] if rt else None}


def kernel_files(root: Path, info: dict) -> dict[str, tuple[Path, Path]]:
    """"generic" (and "rt" when the image has one) → that kernel's (vmlinuz, initrd) in the rootfs."""
    return {kind: (root / f"boot/vmlinuz-{info[key]}", root / f"boot/initrd.img-{info[key]}")
            for kind, key in (("generic", "kernel"), ("rt", "rt_kernel")) if info.get(key)}


def database_server(root: Path, sysd: Path, log) -> None:
    """PostgreSQL for a founder: Debian's own cluster (made by the package, on the root slot) goes; the image's
    unit keeps its data on the data partition and starts only on a box that founded a site."""
    bindirs = sorted((root / "usr/lib/postgresql").glob("*/bin/postgres"))
    if not bindirs:
        raise SystemExit("the rootfs has no PostgreSQL server (images/rootfs.py PACKAGES)")
    bindir = "/" + str(bindirs[-1].parent.relative_to(root))
    for path in (root / "etc/postgresql").glob("*/main"):
        shutil.rmtree(path)
    for path in (root / "var/lib/postgresql").glob("*/main"):
        shutil.rmtree(path.parent)
    run(["systemctl", f"--root={root}", "disable", "postgresql.service"], capture_output=True)
    (sysd / postgres.UNIT).write_text(postgres.server_unit(bindir))
    # enabled, but its condition (the data directory the founding makes) keeps it off on a standalone box
    run(["systemctl", f"--root={root}", "enable", postgres.UNIT], capture_output=True)
    log(f"postgresql: {bindir} ({postgres.UNIT}, data in {postgres.DATA_DIR})")


def package_manifest(root: Path) -> str:
    deb = run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f", "${Package}\t${Version}\t${Architecture}\n"],
              capture_output=True, text=True).stdout
    pip = run(["chroot", str(root), "/opt/egret/bin/pip", "list", "--format=freeze"], capture_output=True,
              text=True).stdout
    return "# Debian packages (dpkg-query -W)\n" + deb + "# Python packages in /opt/egret (pip)\n" + pip


def make_esp(root: Path, work: Path, info: dict, arch: str, root_uuid: str) -> Path:
    a = rootfs.ARCHES[arch]
    esp = work / "esp.vfat"
    esp.unlink(missing_ok=True)
    run(["truncate", "-s", f"{ESP_MB}M", str(esp)])
    run(["mkfs.vfat", "-F", "32", "-n", "ESP", str(esp)], capture_output=True)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    img = ["-i", str(esp)]
    run(["mmd", *img, "::/EFI", "::/EFI/BOOT", "::/EFI/egret", "::/EFI/egret/a", "::/loader", "::/loader/entries"],
        env=env)
    efi = root / f"usr/lib/systemd/boot/efi/systemd-boot{a['efi_arch']}.efi"
    run(["mcopy", *img, str(efi), f"::/EFI/BOOT/BOOT{a['efi_arch'].upper()}.EFI"], env=env)
    for kind, paths in kernel_files(root, info).items():
        for name, path in zip(KERNEL_FILES[kind], paths):
            run(["mcopy", *img, str(path), f"::/EFI/egret/a/{name}"], env=env)
    (work / "loader.conf").write_text("timeout 0\neditor no\n")
    (work / "egret-1-a.conf").write_text(entry_text(info["version"], "a", root_uuid, info["console"]))
    (work / "release.json").write_text(json.dumps(info, indent=1))
    run(["mcopy", *img, str(work / "loader.conf"), "::/loader/loader.conf"], env=env)
    run(["mcopy", *img, str(work / "egret-1-a.conf"), "::/loader/entries/egret-1-a.conf"], env=env)
    run(["mcopy", *img, str(work / "release.json"), "::/EFI/egret/release.json"], env=env)
    return esp


def make_ext4(path: Path, size_mb: int, label: str, source: Path | None) -> None:
    path.unlink(missing_ok=True)
    run(["truncate", "-s", f"{size_mb}M", str(path)])
    cmd = ["mkfs.ext4", "-q", "-F", "-L", label, "-E", "root_owner=0:0"]
    if source:
        cmd += ["-d", str(source)]
    run(cmd + [str(path)])


def assemble(out: Path, esp: Path, root_img: Path, data_img: Path, arch: str, root_uuid: str) -> None:
    a = rootfs.ARCHES[arch]
    out.unlink(missing_ok=True)
    total = 1 + ESP_MB + 2 * ROOT_MB + DATA_MB + 1
    run(["truncate", "-s", f"{total}M", str(out)])
    table = (f"label: gpt\n"
             f"start=1MiB, size={ESP_MB}MiB, type={ESP_TYPE}, name=esp\n"
             f"size={ROOT_MB}MiB, type={a['root_type']}, name=root-a, uuid={root_uuid}\n"
             f"size={ROOT_MB}MiB, type={a['root_type']}, name=_empty, uuid={uuid.uuid4()}\n"
             f"size={DATA_MB}MiB, type={LINUX_TYPE}, name=data, uuid={uuid.uuid4()}\n")
    run(["sfdisk", "-q", str(out)], input=table.encode())
    offset = 1
    for part, size in ((esp, ESP_MB), (root_img, ROOT_MB), (None, ROOT_MB), (data_img, DATA_MB)):
        if part is not None:
            run(["dd", f"if={part}", f"of={out}", "bs=1M", f"seek={offset}", "conv=notrunc,sparse", "status=none"])
        offset += size


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def make_bundle(out: Path, root_img: Path, root: Path, info: dict, key) -> None:
    """The A/B update: zstd root image + kernels + initrds + manifest, every member in SHA256SUMS, signed."""
    files = kernel_files(root, info)
    bundle.make_bundle(out, root_img, *files["generic"], info["version"], info["arch"], key=key, rt=files.get("rt"))


def version_string() -> str:
    base = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    try:
        rev = run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                  text=True).stdout.strip()
    except subprocess.CalledProcessError:
        rev = "nogit"
    return f"{base}+{rev}.{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"


def build(arch: str, out_dir: Path, cache_dir: Path, bundle: bool = True, manifest: Path | None = None,
          bare: bool = False, log=print, signing_key: Path | None = None) -> dict:
    t0 = time.monotonic()
    timings = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / f"work-{arch}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    base = rootfs.build_rootfs(arch, cache_dir, log)
    timings["rootfs"] = round(time.monotonic() - t0, 1)
    root = work / "rootfs"
    run(["cp", "-a", "--reflink=auto", str(base), str(root)])
    (root / ".egret-complete").unlink(missing_ok=True)
    timings["copy"] = round(time.monotonic() - t0 - sum(timings.values()), 1)
    name = f"egret-{arch}" if not bare else f"bare-{arch}"
    if bare:
        info = bare_customize(root, arch)
    else:
        build_wheels(work / "wheels", arch, log)
        units, omitted = present_units(manifest or (REPO / "services/manifest.toml"), REPO)
        if omitted:
            log(f"units not in this tree (not built into the image): {', '.join(omitted)}")
        key = signing.ensure_build_key(signing_key)
        log(f"update signing key: {signing.key_id(key.public_key())} ({signing_key or signing.BUILD_KEY})")
        info = customize(root, arch, work / "wheels", units, omitted, version_string(), log, key=key)
        (out_dir / f"{name}.packages.txt").write_text(package_manifest(root))
    timings["customize"] = round(time.monotonic() - t0 - sum(timings.values()), 1)
    root_uuid = str(uuid.uuid4())
    esp = make_esp(root, work, info, arch, root_uuid)
    root_img, data_img = work / "root.ext4", work / "data.ext4"
    # the filesystem only as large as its content needs (+25%): an update writes this many bytes into the
    # slot, so a smaller root means a faster update; the slot partition keeps ROOT_MB for growth
    used = int(run(["du", "-sxb", str(root)], capture_output=True, text=True).stdout.split()[0])
    root_mb = min(ROOT_MB, int(used * 1.25 / 2**20) + 256)
    make_ext4(root_img, root_mb, "root", root)
    make_ext4(data_img, DATA_MB, "data", None)
    image = out_dir / f"{name}.raw"
    assemble(image, esp, root_img, data_img, arch, root_uuid)
    sums = out_dir / f"{name}.raw.sha256"
    sums.write_text(f"{sha256(image)}  {image.name}\n")
    if not bare:  # the whole disk image is an update source too (`egret update apply x.raw`)
        (out_dir / f"{name}.raw.sha256.sig").write_bytes(signing.sign(key, sums.read_bytes()))
    timings["disk"] = round(time.monotonic() - t0 - sum(timings.values()), 1)
    if bundle and not bare:
        make_bundle(out_dir / f"{name}.update.tar", root_img, root, info, key)
        timings["bundle"] = round(time.monotonic() - t0 - sum(timings.values()), 1)
    shutil.rmtree(work, ignore_errors=True)
    result = {**info, "image": str(image), "seconds": round(time.monotonic() - t0, 1), "timings": timings,
              "sizes_mb": {"esp": ESP_MB, "root_slot": ROOT_MB, "root_fs": root_mb, "data": DATA_MB}}
    (out_dir / f"{name}.build.json").write_text(json.dumps(result, indent=1))
    log(f"image: {image} in {result['seconds']}s {timings}")
    return result


def bare_customize(root: Path, arch: str) -> dict:
    """The same rootfs without Egret: the boot-time baseline for bench/boot.py."""
    sysd = root / "etc/systemd/system"
    (sysd / "bare-marker.service").write_text(
        "[Unit]\nDescription=boot marker\nAfter=multi-user.target\n\n[Service]\nType=oneshot\n"
        "ExecStart=/bin/sh -c 'echo \"EGRET-MARKER healthy uptime=$(cut -d\\\" \\\" -f1 /proc/uptime) slot=bare\" "
        "> /dev/kmsg'\n\n[Install]\nWantedBy=multi-user.target\n")
    (root / "etc/fstab").write_text("")
    (root / "etc/hostname").write_text("bare\n")
    run(["systemctl", f"--root={root}", "enable", "bare-marker.service"], capture_output=True)
    return {"version": "bare", "arch": arch, **kernels(root), "console": rootfs.ARCHES[arch]["console"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default=os.environ.get("ARCH", "amd64"), choices=sorted(rootfs.ARCHES))
    p.add_argument("--out", type=Path, default=REPO / "artifacts" / "image")
    p.add_argument("--cache", type=Path, default=Path(os.environ.get("EGRET_IMAGE_CACHE", "/var/cache/egret-image")))
    p.add_argument("--manifest", type=Path, default=None, help="service manifest (default services/manifest.toml)")
    p.add_argument("--no-bundle", action="store_true", help="skip the A/B update bundle")
    p.add_argument("--bare", action="store_true", help="build the bare Debian baseline image (no Egret)")
    p.add_argument("--signing-key", type=Path, default=None,
                   help=f"Ed25519 key that signs updates (default {signing.BUILD_KEY}, made on first use)")
    args = p.parse_args(argv)
    if args.arch == "arm64":
        rootfs.ensure_binfmt()
    build(args.arch, args.out, args.cache, bundle=not args.no_bundle, manifest=args.manifest, bare=args.bare,
          signing_key=args.signing_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
