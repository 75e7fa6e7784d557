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
  nodes = { hub = { imports = [ box ]; egret.federation.enable = true; }; site1 = box; site2 = box; };
  testScript = ''
    start_all()
    for m in (hub, site1, site2):
        m.wait_for_unit("egret-health.service")
    # the hub speaks HTTPS with its own CA (sites pin its fingerprint from the enrol token)
    hub.succeed("curl -skf https://127.0.0.1:8119/healthz")
    for m in (site1, site2):
        m.succeed("curl -skf https://hub:8119/healthz")
  '';
}
