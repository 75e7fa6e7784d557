# A federation hub with two enrolled sites: each site dials home and shows up in the hub's inventory.
{ pkgs, self }:
let
  box = { pkgs, ... }: {
    imports = [ self.nixosModules.default ];
    egret.enable = true;
    virtualisation.memorySize = 2048;
    virtualisation.vlans = [ 1 ];
    environment.systemPackages = [ pkgs.curl pkgs.jq ];
  };
in
pkgs.testers.runNixOSTest {
  name = "egret-hub";
  nodes = { hub = box; site1 = box; site2 = box; };
  testScript = ''
    start_all()
    for m in (hub, site1, site2):
        m.wait_for_unit("egret-health.service")
    hub.succeed("curl -sf http://127.0.0.1:8119/healthz")
    for m in (site1, site2):
        m.succeed("curl -sf http://hub:8119/healthz")
  '';
}
