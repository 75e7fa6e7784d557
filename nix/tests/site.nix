# A 3-box site: the first box issues a join token, the others join it, all see each other's APIs.
{ pkgs, self }:
let
  node = { pkgs, ... }: {
    imports = [ self.nixosModules.default ];
    egret.enable = true;
    virtualisation.memorySize = 2048;
    virtualisation.vlans = [ 1 ];
    environment.systemPackages = [ pkgs.curl ];
  };
in
pkgs.testers.runNixOSTest {
  name = "egret-site";
  nodes = { box1 = node; box2 = node; box3 = node; };
  testScript = ''
    start_all()
    for m in (box1, box2, box3):
        m.wait_for_unit("egret-health.service")
    box1.succeed("EGRET_ADMIN_PASSWORD=nixos-test-password egret bootstrap")
    # bootstrapped without the wizard: mark setup done so the gated units start (lib/units.nix)
    for m in (box1, box2, box3):
        m.succeed("touch /var/lib/egret/firstboot/setup-done && systemctl start multi-user.target")
    token = box1.succeed("egret join-token").strip()
    for m in (box2, box3):
        m.succeed(f"egret join {token}")
        m.succeed("curl -sf http://box1:5000/healthz")
    box1.succeed("curl -sf http://box3:8774/healthz")
  '';
}
