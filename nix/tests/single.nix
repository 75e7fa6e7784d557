# One box: before setup only the wizard (port 80) runs; the headless answers set it up; then every service is
# healthy, starts by itself after a reboot, and the openstack CLI gets a token.
{ pkgs, self }:
pkgs.testers.runNixOSTest {
  name = "egret-single";
  nodes.box = { pkgs, ... }: {
    imports = [ self.nixosModules.default ];
    egret.enable = true;
    virtualisation.memorySize = 2048;
    environment.systemPackages = [ pkgs.openstackclient pkgs.curl ];
    environment.etc."egret/answers.yaml".text = ''
      admin: { password: "Nixos-Test-Password-1" }
      box: { hostname: box, timezone: UTC }
      network: { interface: eth1, mode: static, address: 192.168.1.2/24 }
      storage: { assignments: {} }
      role: { role: standalone }
    '';
  };
  testScript = ''
    box.wait_for_unit("egret-health.service")
    box.succeed("curl -sf http://127.0.0.1/ | grep -i setup")
    box.fail("curl -sf http://127.0.0.1:5000/healthz")  # gated until setup is done
    box.succeed("EGRET_STATE_DIR=/var/lib/egret egret firstboot --answers /etc/egret/answers.yaml")
    box.succeed("curl -sf http://127.0.0.1:5000/healthz")
    box.succeed("OS_CLIENT_CONFIG_FILE=/var/lib/egret/clouds.yaml openstack --os-cloud egret token issue")
    box.shutdown()
    box.start()
    box.wait_for_unit("egret-identity.service")
    box.wait_until_succeeds("curl -sf http://127.0.0.1:5000/healthz")
  '';
}
