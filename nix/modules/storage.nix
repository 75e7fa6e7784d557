# Egret storage service (Cinder, Glance, S3): units from services/manifest.toml; LVM thin for volumes.
{ config, lib, pkgs, ... }:
{
  imports = [ (import ../lib/service-module.nix "storage") ];
  config = lib.mkIf (config.egret.enable && config.egret.storage.enable) {
    services.lvm.boot.thin.enable = true;
    environment.systemPackages = [ pkgs.lvm2 pkgs.thin-provisioning-tools pkgs.qemu-utils ];
  };
}
