# One box: every service healthy, the wizard answers, the openstack CLI gets a token.
{ pkgs, self }:
pkgs.testers.runNixOSTest {
  name = "egret-single";
  nodes.box = { pkgs, ... }: {
    imports = [ self.nixosModules.default ];
    egret.enable = true;
    virtualisation.memorySize = 2048;
    environment.systemPackages = [ pkgs.openstackclient pkgs.curl ];
    environment.etc."egret/answers.yaml".text = ''
      admin_password: "nixos-test-password"
      hostname: box
      role: standalone
    '';
  };
  testScript = ''
    box.wait_for_unit("egret-health.service")
    box.succeed("curl -sf http://127.0.0.1:5000/healthz")
    box.succeed("curl -sf http://127.0.0.1:8000/ | grep -i setup")
    box.succeed("EGRET_STATE_DIR=/var/lib/egret egret firstboot --answers /etc/egret/answers.yaml")
    box.succeed("OS_CLIENT_CONFIG_FILE=/var/lib/egret/clouds.yaml openstack --os-cloud egret token issue")
  '';
}
