# The egret Python application from pyproject.toml (PEP 517 build with setuptools); dependencies by their
# nixpkgs names. Every dependency here exists in nixpkgs, so the package builds from the binary cache.
{ lib, python3Packages, qemu-utils, bubblewrap, iproute2, nftables, dnsmasq, lvm2, thin-provisioning-tools, tgt }:
let
  pyproject = lib.importTOML ../pyproject.toml;
in
python3Packages.buildPythonApplication {
  pname = pyproject.project.name;
  version = pyproject.project.version;
  pyproject = true;
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions ([ ../pyproject.toml ../appliance ../services ../firstboot ]);
  };
  build-system = [ python3Packages.setuptools ];
  dependencies = with python3Packages; [
    flask peewee cryptography jsonschema gunicorn prometheus-client requests pyyaml psycopg2 pyroute2 pyudev
    libvirt oslo-utils
  ];
  # tools the drivers call by name (tgt: storage's iSCSI target, tgtd and tgtadm)
  makeWrapperArgs = [
    "--prefix PATH : ${lib.makeBinPath [
      qemu-utils bubblewrap iproute2 nftables dnsmasq lvm2 thin-provisioning-tools tgt ]}"
  ];
  nativeCheckInputs = [ python3Packages.pytestCheckHook ];
  # unit tests only: the other layers need daemons, namespaces or QEMU
  pytestFlagsArray = [ "tests/unit" ];
  pythonImportsCheck = [ "appliance" "services" ];
  meta = {
    description = pyproject.project.description;
    mainProgram = "egret";
    platforms = lib.platforms.linux;
  };
}
