# Egret identity service: options and hardened units generated from services/manifest.toml.
import ../lib/service-module.nix "identity"
