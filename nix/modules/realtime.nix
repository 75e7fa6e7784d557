# The real-time/telco profile: PREEMPT_RT mainline kernel (>= 6.12), isolated cores, huge pages, IRQ affinity,
# PTP. nixpkgs dropped linuxPackages-rt (NixOS/nixpkgs#502889), so the kernel is built with PREEMPT_RT set.
{ config, lib, pkgs, ... }:
let cfg = config.egret.realtime; in
{
  options.egret.realtime = {
    enable = lib.mkEnableOption "the Egret real-time profile";
    isolatedCores = lib.mkOption {
      type = lib.types.str;
      default = "2-3";
      example = "2-7";
      description = "CPU list kept free of housekeeping work (isolcpus, nohz_full, rcu_nocbs).";
    };
    hugepages1G = lib.mkOption { type = lib.types.ints.unsigned; default = 0; };
    hugepages2M = lib.mkOption { type = lib.types.ints.unsigned; default = 512; };
    ptpInterface = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      description = "NIC for ptp4l/phc2sys; null disables PTP.";
    };
  };
  config = lib.mkIf cfg.enable {
    boot.kernelPackages = pkgs.linuxPackages_6_12;
    boot.kernelPatches = [{
      name = "preempt-rt";
      patch = null;
      structuredExtraConfig = with lib.kernel; {
        EXPERT = yes;
        PREEMPT_RT = yes;
        PREEMPT = lib.mkForce no;
        PREEMPT_VOLUNTARY = lib.mkForce no;
      };
    }];
    boot.kernelParams = [
      "isolcpus=${cfg.isolatedCores}" "nohz_full=${cfg.isolatedCores}" "rcu_nocbs=${cfg.isolatedCores}"
      "irqaffinity=0-1" "hugepagesz=2M" "hugepages=${toString cfg.hugepages2M}"
    ] ++ lib.optionals (cfg.hugepages1G > 0) [ "hugepagesz=1G" "hugepages=${toString cfg.hugepages1G}" ];
    environment.systemPackages = [ pkgs.linuxptp pkgs.ethtool ];
    systemd.services.egret-ptp4l = lib.mkIf (cfg.ptpInterface != null) {
      description = "PTP clock (ptp4l) on ${cfg.ptpInterface}";
      wantedBy = [ "multi-user.target" ];
      serviceConfig.ExecStart = "${pkgs.linuxptp}/bin/ptp4l -i ${cfg.ptpInterface} -m";
    };
    systemd.services.egret-phc2sys = lib.mkIf (cfg.ptpInterface != null) {
      description = "PHC → system clock (phc2sys)";
      wantedBy = [ "multi-user.target" ];
      after = [ "egret-ptp4l.service" ];
      serviceConfig.ExecStart = "${pkgs.linuxptp}/bin/phc2sys -s ${cfg.ptpInterface} -w -m";
    };
  };
}
