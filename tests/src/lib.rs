//! Harness for the end-to-end suite: a local control plane, the project's CRDs, manifests applied through
//! the dynamic API, the real operator binary, aws-sim, and waits with deadlines.
//! `cargo xtask` reuses the control plane and process handling from here.

pub mod argocd_health;
pub mod aws_calls;
pub mod by_hand;
pub mod command;
pub mod consumer_tool;
pub mod control_plane;
pub mod crds;
pub mod estates;
pub mod helm;
pub mod kstatus;
pub mod kubectl;
pub mod manifests;
pub mod object_status;
pub mod objects;
pub mod operator;
pub mod operator_deployment;
pub mod paths;
pub mod pause;
pub mod process;
pub mod rbac;
pub mod release;
pub mod shared;
pub mod sim;
pub mod sim_state;
pub mod tenants;
pub mod test_env;
pub mod wait;

/// Both of rustls's crypto providers end up compiled into the workspace (kube asks for ring, reqwest for
/// aws-lc-rs), and rustls then refuses to guess: pick ring, once, before any TLS client is built.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first, which serves just as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
