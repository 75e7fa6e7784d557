# Egret core: the package, shared group and state, image defaults, boot assessment (health → bless/reboot).
{ config, lib, pkgs, ... }:
let
  cfg = config.egret;
  settingsFormat = pkgs.formats.toml { };
in
{
  options.egret = {
    enable = lib.mkEnableOption "the Egret appliance";
    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.egret;
      description = "The egret package (overlays.default provides pkgs.egret).";
    };
    settings = lib.mkOption {
      type = settingsFormat.type;
      default = { };
      description = "Written to /etc/egret/00-image.toml (see appliance/config.py for every setting).";
    };
  };

  config = lib.mkIf cfg.enable {
    egret.settings = {
      state_dir = lib.mkDefault "/var/lib/egret";
      bind_host = lib.mkDefault "0.0.0.0";
      # until setup is done the box serves only the wizard, on port 80 (as the Debian image's 00-image.toml)
      ports.firstboot = lib.mkDefault 80;
    };
    # the state dir is group-writable and sticky (appliance/stateplan.py); 2 would refuse root's O_CREAT open of a
    # unit's database there (egret join-token, the wizard), as on the Debian image (images/files.py SYSCTL)
    boot.kernel.sysctl."fs.protected_regular" = 1;
    environment.etc."egret/00-image.toml".source = settingsFormat.generate "00-image.toml" cfg.settings;
    environment.systemPackages = [ cfg.package ];
    users.groups.egret = { };
    # /run/egret: the wizard opens the setup gate there for the boot it applies setup in (lib/units.nix)
    systemd.tmpfiles.rules = [ "d /var/lib/egret 3771 root egret -" "d /run/egret 0755 root root -" ];

    systemd.services.egret-state = {
      description = "Egret state directory (ownership for the service users)";
      wantedBy = [ "multi-user.target" ];
      after = [ "local-fs.target" "systemd-tmpfiles-setup.service" ];
      unitConfig.RequiresMountsFor = "/var/lib/egret";
      # ExecReload: the wizard reloads it before it starts each unit it set up (as the Debian image)
      serviceConfig = { Type = "oneshot"; RemainAfterExit = true; ExecReload = "${cfg.package}/bin/egret-state /var/lib/egret"; };
      # as the Debian image (images/files.py): the one plan in appliance/stateplan.py (per-unit owners, token keys
      # and revocations read-only to the group, PRIVATE_STATE untouched); egret-state is pyproject's entry point
      script = "${cfg.package}/bin/egret-state /var/lib/egret";
    };

    # boot assessment: the same `egret update health` the Debian image runs; failing it spends a boot try
    systemd.additionalUpstreamSystemUnits = [ "boot-complete.target" "systemd-bless-boot.service" ];
    systemd.services.egret-health = {
      description = "Egret boot assessment: every service healthy";
      wantedBy = [ "multi-user.target" ];
      requiredBy = [ "boot-complete.target" ];
      before = [ "boot-complete.target" ];
      after = [ "egret-state.service" ] ++ lib.mapAttrsToList (n: _: "${n}.service")
        (lib.filterAttrs (n: _: lib.hasPrefix "egret-" n && n != "egret-health" && n != "egret-state")
          config.systemd.services);
      environment = { EGRET_STATE_DIR = "/var/lib/egret"; EGRET_CONFIG_DIR = "/etc/egret"; };
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${cfg.package}/bin/egret update health --timeout 900 --esp /boot";
        TimeoutStartSec = "infinity";
        FailureAction = "reboot";
      };
    };
  };
}
