//! scripts/install-deps.sh when a pinned tool cannot be had: python-openstackclient from a
//! package index that does not answer (a closed port on loopback). It must stop, name the
//! package and version, and leave nothing half-installed. Run as root, after install-deps has
//! run once (scripts/test.sh does), so that every other step finds its work done.

use std::process::Command;

#[test]
fn an_openstack_client_that_cannot_be_installed_stops_install_deps_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("osc");
    let o = Command::new("bash")
        .arg("scripts/install-deps.sh")
        .env("OSC_VENV", &venv)
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("PIP_RETRIES", "0")
        .env("PIP_TIMEOUT", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "install-deps succeeded without an index: {err}"
    );
    assert!(
        err.contains("python-openstackclient==5.2.0") && err.contains("could not be installed"),
        "{err}"
    );
    assert!(
        !venv.exists(),
        "a half-installed client was left at {}",
        venv.display()
    );
}
