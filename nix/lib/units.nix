# services/manifest.toml → hardened systemd units, in pure Nix (no nixpkgs), mirroring
# appliance/image/units.py key for key; tests/unit/appliance/image/test_image_units.py compares the two outputs.
{ manifest, egretBin ? "/opt/egret/bin/egret" }:
let
  stateDir = "/var/lib/egret";
  configDir = "/etc/egret";
  group = "egret";
  units = manifest.units or { };
  names = builtins.attrNames units;
  words = builtins.concatStringsSep " ";
  unique = list: builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ] list;
  sortStrings = builtins.sort builtins.lessThan;
  intersects = a: b: builtins.any (x: builtins.elem x b) a;
  unitName = name: "egret-${name}.service";
  # the setup gate (see appliance/image/units.py): units without before_setup wait for setup
  setupDone = "${stateDir}/firstboot/setup-done";
  runDir = "/run/egret";
  setupGate = "${runDir}/setup-applying";
  # a founder's database server: set-up units start after it (ordering only, see appliance/image/units.py)
  databaseUnit = "egret-postgresql.service";
  # node agents (site_node): only on a box in a site, pulled in by the cluster unit, reading its node key through
  # the site group (see appliance/image/units.py)
  siteFile = "${stateDir}/cluster/site.json";
  siteGroup = "egret-site";
  siteRead = "+/bin/sh -c 'cd ${stateDir}/cluster || exit 0; "
    + "for p in ca ca/ca.crt member member/ca.crt tls/server.key; do "
    + "[ -e $p ] && chgrp ${siteGroup} $p && chmod g+rX,g-w $p; done; exit 0'";
  isSiteNode = spec: (spec.site_node or false) == true;
  # API units (control_plane): not on a site's member, which gave up its own cloud (see appliance/image/units.py)
  memberDir = "${stateDir}/cluster/member";
  isControlPlane = spec: (spec.control_plane or false) == true;

  serviceUnit = name: spec:
    let
      caps = sortStrings (unique (spec.capabilities or [ ]));
      deps = map unitName (builtins.filter (d: builtins.elem d names) (spec.after or [ ]));
      deviceAllow = spec.device_allow or [ ];
      siteNode = isSiteNode spec;
      groups = (spec.supplementary_groups or [ ]) ++ (if siteNode then [ siteGroup ] else [ ]);
      user = spec.user;
      opt = cond: attrs: if cond then attrs else { };
      beforeSetup = (spec.before_setup or false) == true;
      configuresSystem = (spec.configures_system or false) == true;
      sandboxes = (spec.sandboxes or false) == true;
      runtimeDir = spec.runtime_dir or "";
    in {
      Unit = {
        Description = spec.description;
        After = words ([ "network-online.target" "egret-state.service" ] ++ deps
          ++ (if beforeSetup then [ ] else [ databaseUnit ]));
        Wants = "network-online.target";
        Requires = words ([ "egret-state.service" ] ++ deps);
      }
      // opt (!beforeSetup) { ConditionPathExists = "|${setupDone}"; ConditionPathIsDirectory = "|${setupGate}"; }
      // opt (isControlPlane spec) { ConditionDirectoryNotEmpty = "!${memberDir}"; }
      // opt siteNode { ConditionFileNotEmpty = siteFile; };
      Service = {
        Type = "simple";
        ExecStart = "${egretBin} serve ${name}";
        Environment = "EGRET_STATE_DIR=${stateDir} EGRET_CONFIG_DIR=${configDir}";
        Restart = "on-failure";
        RestartSec = "2";
        KillMode = "mixed";
        StateDirectory = "egret/${spec.state_dir or name}";
        StateDirectoryMode = "0750";
        ReadWritePaths = stateDir;
        UMask = "0007";
        ProtectSystem = "strict";
        ProtectHome = "yes";
        PrivateTmp = "yes";
        NoNewPrivileges = "yes";
        ProtectControlGroups = "yes";
        ProtectKernelModules = "yes";
        ProtectKernelLogs = "yes";
        ProtectClock = "yes";
        RestrictSUIDSGID = "yes";
        RestrictRealtime = "yes";
        LockPersonality = "yes";
        SystemCallArchitectures = "native";
        RestrictAddressFamilies = "AF_UNIX AF_INET AF_INET6 AF_NETLINK";
        CapabilityBoundingSet = words caps;
      }
      // opt beforeSetup { ReadWritePaths = "${stateDir} -${runDir}"; }
      // opt configuresSystem { ReadWritePaths = (if beforeSetup then "${stateDir} -${runDir}" else stateDir) + " /etc"; }
      // opt (!configuresSystem) { ProtectHostname = "yes"; }
      // opt (user != "root") { User = user; Group = group; }
      // opt (caps != [ ]) { AmbientCapabilities = words caps; }
      // opt (groups != [ ]) { SupplementaryGroups = words groups; }
      // opt (!(intersects caps [ "CAP_NET_ADMIN" "CAP_SYS_ADMIN" ])) { ProtectKernelTunables = "yes"; }
      // opt (!(intersects caps [ "CAP_SYS_ADMIN" ])) {
        # bubblewrap's --unshare-all (appliance/diskimage.py) for units that sandbox qemu-img
        RestrictNamespaces = if sandboxes then "user mnt pid net ipc uts cgroup" else "yes";
      }
      # a directory under /run the unit owns while it runs (see appliance/image/units.py)
      // opt (runtimeDir != "") { RuntimeDirectory = runtimeDir; RuntimeDirectoryMode = "0750"; }
      // (if deviceAllow != [ ] then { DeviceAllow = words deviceAllow; }
          else opt (!(intersects caps [ "CAP_SYS_ADMIN" "CAP_MKNOD" "CAP_SYS_RAWIO" ])) { PrivateDevices = "yes"; })
      // opt siteNode { ExecStartPre = siteRead; };
      Install = { WantedBy = words ([ "multi-user.target" ]
        ++ (if siteNode && builtins.elem "cluster" names then [ (unitName "cluster") ] else [ ])); };
    };
in {
  units = builtins.listToAttrs (map (name: { name = unitName name; value = serviceUnit name units.${name}; }) names);
  users = sortStrings (unique (builtins.filter (u: u != "root") (map (name: units.${name}.user) names)));
  inherit group;
  site_users = sortStrings (unique (builtins.filter (u: u != "root")
    (map (name: units.${name}.user) (builtins.filter (name: isSiteNode units.${name}) names))));
  site_group = siteGroup;
  # "user:group" for each unit's supplementary group: the user is put in it (libvirtd's polkit rule reads the
  # user's groups from the user database, not the unit's SupplementaryGroups)
  memberships = sortStrings (unique (builtins.concatLists (map
    (name: map (g: "${units.${name}.user}:${g}") (units.${name}.supplementary_groups or [ ]))
    (builtins.filter (name: units.${name}.user != "root") names))));
}
