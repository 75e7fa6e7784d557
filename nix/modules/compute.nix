# Egret compute service: units from services/manifest.toml, plus the libvirt daemon it drives.
{ config, lib, ... }:
{
  imports = [ (import ../lib/service-module.nix "compute") ];
  config = lib.mkIf (config.egret.enable && config.egret.compute.enable) {
    virtualisation.libvirtd.enable = true;
  };
}
