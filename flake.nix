{
  # The reproducible build of the Egret appliance. Needs Nix >= 2.18 and the binary cache; see README
  # ("Appliance image") for the exact commands. CI on machines without nixpkgs only parses these files and
  # evaluates nix/lib/units.nix against appliance/image/units.py (tests/unit/appliance/image/test_image_units.py).
  description = "Egret: a compact, OpenStack-compatible cloud appliance";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs = { self, nixpkgs }:
    let
      lib = nixpkgs.lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forSystems = lib.genAttrs systems;
      serviceModules = {
        identity = ./nix/modules/identity.nix;
        compute = ./nix/modules/compute.nix;
        network = ./nix/modules/network.nix;
        storage = ./nix/modules/storage.nix;
        cluster = ./nix/modules/cluster.nix;
        federation = ./nix/modules/federation.nix;
      };
      appliance = system: lib.nixosSystem {
        modules = [
          self.nixosModules.default
          ./nix/profiles/appliance.nix
          ./nix/image.nix
          { nixpkgs.hostPlatform = system; nixpkgs.overlays = [ self.overlays.default ]; }
        ];
      };
    in
    {
      # manifest → units, the pure function the NixOS modules and the Debian builder's test share
      lib.units = import ./nix/lib/units.nix;

      overlays.default = final: prev: { egret = final.callPackage ./nix/package.nix { }; };

      packages = forSystems (system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          cfg = self.nixosConfigurations."appliance-${system}".config;
        in
        {
          egret = pkgs.callPackage ./nix/package.nix { };
          default = self.packages.${system}.egret;
          # raw-efi for flashing (A/B layout from nix/image.nix), qcow2 and iso from nixpkgs' image variants
          raw-efi = cfg.system.build.image;
          qcow2 = cfg.system.build.images.qemu-efi;
          iso = cfg.system.build.images.iso;
          # the per-partition files systemd-sysupdate consumes on the box (split = true)
          update = cfg.system.build.image;
        });

      nixosModules = serviceModules // {
        core = ./nix/modules/core.nix;
        firstboot = ./nix/modules/firstboot.nix;
        realtime = ./nix/modules/realtime.nix;
        default = {
          imports = [ ./nix/modules/core.nix ./nix/modules/firstboot.nix ./nix/modules/realtime.nix ]
            ++ builtins.attrValues serviceModules;
        };
      };

      nixosConfigurations = {
        appliance = appliance "x86_64-linux";
        "appliance-x86_64-linux" = appliance "x86_64-linux";
        "appliance-aarch64-linux" = appliance "aarch64-linux";
      };

      checks = forSystems (system:
        let pkgs = import nixpkgs { inherit system; overlays = [ self.overlays.default ]; };
        in {
          single = import ./nix/tests/single.nix { inherit pkgs self; };
          site = import ./nix/tests/site.nix { inherit pkgs self; };
          hub = import ./nix/tests/hub.nix { inherit pkgs self; };
        });

      formatter = forSystems (system: nixpkgs.legacyPackages.${system}.nixpkgs-fmt);
    };
}
