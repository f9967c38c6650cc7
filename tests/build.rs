//! Marks which shared servers this build of the tests can reach, so that a backend whose server
//! is not configured shows as `ignored` in `cargo test`'s summary, with the reason, instead of
//! passing without running.
//!
//! For each variable below that is set (or for all of them under `CI=true`, where a missing
//! server must fail the run instead), the build sets a cfg of the same name. The backend list in
//! `src/lib.rs` names that cfg on each line that needs the server. Cargo rebuilds the tests when
//! any of these variables changes.

/// The variables that hold a shared server's URL, each also the name of its cfg.
const SERVER_URLS: [&str; 3] = [
    "KV_SESSIONS_REDIS_URL",
    "KV_SESSIONS_REDIS_CLUSTER_URL",
    "KV_SESSIONS_POSTGRES_URL",
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    let under_ci = std::env::var("CI").as_deref() == Ok("true");
    for variable in SERVER_URLS {
        println!("cargo::rerun-if-env-changed={variable}");
        println!("cargo::rustc-check-cfg=cfg({variable})");
        let set = std::env::var(variable).is_ok_and(|url| !url.is_empty());
        if set || under_ci {
            println!("cargo::rustc-cfg={variable}");
        }
    }
}
