# Egret site membership (the cluster unit: site CA, join tokens, heartbeats, dial-home): units from the manifest.
import ../lib/service-module.nix "cluster"
