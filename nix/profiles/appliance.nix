# The appliance profile: image-based (no Nix on the box), networkd, serial console, every Egret service on.
{ config, lib, modulesPath, ... }:
{
  imports = [ "${modulesPath}/profiles/image-based-appliance.nix" ];
  system.stateVersion = "25.11";
  networking.hostName = lib.mkDefault "egret";
  networking.useNetworkd = true;
  systemd.network.networks."80-dhcp" = {
    matchConfig.Name = "en* eth*";
    networkConfig.DHCP = "yes";
  };
  boot.kernelParams = [ "console=ttyS0,115200" "console=tty0" ];
  boot.kernelModules = [ "dm-thin-pool" "8021q" "qemu_fw_cfg" ];
  egret.enable = true;
  services.openssh.enable = false;
  users.mutableUsers = false;
  # the data partition (wizard answers, databases, keys, images, volumes) survives A/B updates
  fileSystems."/var/lib/egret" = {
    device = "/dev/disk/by-partlabel/data";
    fsType = "ext4";
    options = [ "nofail" ];
  };
}
