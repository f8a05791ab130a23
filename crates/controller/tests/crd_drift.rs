//! The committed CRD YAML (config/crd/ and the Helm chart's crds/) must be exactly what the types generate.
//! Regenerate with `cargo xtask crd`.

use std::path::Path;
use std::process::Command;

#[test]
fn committed_crds_match_the_types() {
    let out = Command::new(env!("CARGO_BIN_EXE_zeroetl-operator"))
        .arg("crd")
        .output()
        .expect("run zeroetl-operator crd");
    assert!(
        out.status.success(),
        "zeroetl-operator crd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<&str> = generated.split("---\n").collect();
    assert_eq!(
        docs.len(),
        zeroetl_api::crd::all().len(),
        "expected one document per CRD"
    );

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for crd in zeroetl_api::crd::all() {
        let name = zeroetl_api::crd::file_name(&crd);
        let expected = docs
            .iter()
            .find(|d| {
                d.contains(&format!(
                    "  name: {}\n",
                    crd.metadata.name.as_deref().unwrap()
                ))
            })
            .unwrap();
        for dir in ["config/crd", "charts/zeroetl-operator/crds"] {
            let path = root.join(dir).join(&name);
            let committed = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                committed == *expected,
                "{} differs from the CRD the types generate; run `cargo xtask crd` and commit the result",
                path.display()
            );
        }
    }
}
