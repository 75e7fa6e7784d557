# Egret first boot: the wizard unit (from services/manifest.toml when the firstboot unit is in it) and the
# console banner with the wizard URL and the one-time setup code.
{ config, lib, ... }:
let
  cfg = config.egret.firstboot;
  core = config.egret;
in
{
  imports = [ (import ../lib/service-module.nix "firstboot") ];
  options.egret.firstboot.openFirewall = lib.mkOption {
    type = lib.types.bool;
    default = true;
    description = "Open the wizard's port on the management network.";
  };
  config = lib.mkIf (core.enable && cfg.enable) {
    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ core.settings.ports.firstboot ];
    systemd.services.egret-console = {
      description = "Egret console banner: wizard URL and setup code";
      wantedBy = [ "multi-user.target" ];
      after = [ "egret-state.service" "network.target" ];
      environment = { EGRET_STATE_DIR = "/var/lib/egret"; EGRET_CONFIG_DIR = "/etc/egret"; };
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${core.package}/bin/python -m firstboot.console";
      };
    };
  };
}
