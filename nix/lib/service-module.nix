# A NixOS module for one Egret service: its units come from services/manifest.toml through units.nix,
# the same function the Debian image's generator is checked against.
service:
{ config, lib, pkgs, ... }:
let
  cfg = config.egret.${service};
  core = config.egret;
  manifest = builtins.fromTOML (builtins.readFile ../../services/manifest.toml);
  generated = import ./units.nix { inherit manifest; egretBin = "${core.package}/bin/egret"; };
  mine = lib.filterAttrs (name: spec: spec.service == service) (manifest.units or { });
  unitFile = name: "egret-${name}.service";
  split = s: lib.filter (w: w != "") (lib.splitString " " s);
  toNixos = name:
    let u = generated.units.${unitFile name}; in {
      description = u.Unit.Description;
      after = split u.Unit.After;
      wants = split u.Unit.Wants;
      requires = split u.Unit.Requires;
      wantedBy = split u.Install.WantedBy;
      # the setup gate (ConditionPathExists=|…, ConditionPathIsDirectory=|…) has no NixOS option of its own
      unitConfig = lib.filterAttrs (key: _: lib.hasPrefix "Condition" key) u.Unit;
      serviceConfig = u.Service;
    };
in
{
  options.egret.${service} = {
    # optional units (a federation hub) are off unless a configuration turns them on
    enable = lib.mkEnableOption "the Egret ${service} service"
      // { default = core.enable && !(lib.any (spec: spec.optional or false) (lib.attrValues mine)); };
  };
  config = lib.mkIf (core.enable && cfg.enable) {
    systemd.services = lib.mapAttrs' (name: _: lib.nameValuePair "egret-${name}" (toNixos name)) mine;
    users.users = lib.listToAttrs (map
      # extraGroups: libvirtd's polkit rule reads the user's groups, not the unit's SupplementaryGroups
      (name: lib.nameValuePair mine.${name}.user { isSystemUser = true; group = "egret"; home = "/var/lib/egret";
        extraGroups = mine.${name}.supplementary_groups or [ ]; })
      (lib.filter (name: mine.${name}.user != "root") (builtins.attrNames mine)));
    # node agents (site_node) read the cluster unit's node key through this group (SupplementaryGroups in units.nix)
    users.groups = lib.mkIf (lib.any (spec: spec.site_node or false) (lib.attrValues mine)) {
      ${generated.site_group} = { };
    };
  };
}
