# Egret network service: units from services/manifest.toml; the kernel features provider/tenant networks use.
{ config, lib, pkgs, ... }:
{
  imports = [ (import ../lib/service-module.nix "network") ];
  config = lib.mkIf (config.egret.enable && config.egret.network.enable) {
    boot.kernelModules = [ "8021q" "vxlan" "br_netfilter" "sch_taprio" "sch_mqprio" "sch_etf" ];
    boot.kernel.sysctl."net.ipv4.ip_forward" = 1;
    networking.nftables.enable = true;
    environment.systemPackages = [ pkgs.dnsmasq pkgs.nftables pkgs.iproute2 ];
  };
}
