# The raw-efi appliance image from nixpkgs' own tooling (image.repart, systemd-repart): ESP with systemd-boot
# and a UKI, an A/B pair of read-only Nix store partitions (B starts `_empty`), the data partition. Updates come
# through systemd-sysupdate; the UKI is installed with a boot counter (+3), egret-health blesses it, and an
# unhealthy new slot falls back to the previous UKI by itself.
{ config, lib, pkgs, modulesPath, ... }:
let
  efiArch = pkgs.stdenv.hostPlatform.efiArch;
  version = config.system.image.version;
  id = config.system.image.id;
in
{
  imports = [ "${modulesPath}/image/repart.nix" ];

  system.image.id = "egret";
  system.image.version = lib.mkDefault "1";

  boot.loader.grub.enable = false;
  boot.initrd.systemd.enable = true;
  # the store slot is found by its partition label store_<version>, written by the build or sysupdate
  fileSystems."/" = { fsType = "tmpfs"; options = [ "mode=0755" ]; };
  fileSystems."/nix/store" = {
    device = "/dev/disk/by-partlabel/store_${version}";
    fsType = "erofs";
  };
  fileSystems."/boot" = { device = "/dev/disk/by-partlabel/esp"; fsType = "vfat"; };

  image.repart = {
    name = id;
    split = true;
    partitions = {
      "10-esp" = {
        contents = {
          "/EFI/BOOT/BOOT${lib.toUpper efiArch}.EFI".source =
            "${pkgs.systemd}/lib/systemd/boot/efi/systemd-boot${efiArch}.efi";
          "/EFI/Linux/${id}_${version}+3.efi".source =
            "${config.system.build.uki}/${config.system.boot.loader.ukiFile}";
          "/loader/loader.conf".source = pkgs.writeText "loader.conf" "timeout 0\neditor no\n";
        };
        repartConfig = { Type = "esp"; Label = "esp"; Format = "vfat"; SizeMinBytes = "256M"; SplitName = "-"; };
      };
      "20-store-a" = {
        storePaths = [ config.system.build.toplevel ];
        nixStorePrefix = "/";
        repartConfig = {
          Type = "linux-generic";
          Label = "store_${version}";
          Format = "erofs";
          Minimize = "best";
          SplitName = "store";
        };
      };
      "30-store-b".repartConfig = {
        Type = "linux-generic";
        Label = "_empty";
        SizeMinBytes = "4G";
        SizeMaxBytes = "4G";
        SplitName = "-";
      };
      "40-data".repartConfig = {
        Type = "linux-generic";
        Label = "data";
        Format = "ext4";
        SizeMinBytes = "1G";
        SplitName = "-";
      };
    };
  };

  systemd.sysupdate = {
    enable = true;
    reboot.enable = false;
    transfers = {
      "10-store" = {
        Source = { Type = "regular-file"; Path = "/var/lib/egret/updates"; MatchPattern = [ "${id}_@v.store.raw" ]; };
        Target = {
          Type = "partition";
          Path = "auto";
          MatchPattern = "store_@v";
          MatchPartitionType = "linux-generic";
          InstancesMax = 2;
          ReadOnly = "yes";
        };
        Transfer.Verify = "yes";
      };
      "20-uki" = {
        Source = { Type = "regular-file"; Path = "/var/lib/egret/updates"; MatchPattern = [ "${id}_@v.efi" ]; };
        Target = {
          Type = "regular-file";
          Path = "/EFI/Linux";
          PathRelativeTo = "boot";
          MatchPattern = [ "${id}_@v+@l-@d.efi" "${id}_@v+@l.efi" "${id}_@v.efi" ];
          TriesLeft = 3;
          TriesDone = 0;
          InstancesMax = 2;
          Mode = "0444";
        };
        Transfer.Verify = "yes";
      };
    };
  };

  # image variants from nixpkgs (system.build.images.<variant>): options only those variants declare go here
  image.modules = {
    iso = { isoImage.squashfsCompression = "zstd -Xcompression-level 6"; };
    qemu-efi = { virtualisation.diskSize = lib.mkDefault 8192; };
  };
}
