//! `cargo xtask crd [--check]`: the committed CRD files are generated from the operator's Rust types.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use zeroetl_e2e::paths::workspace_root;

use crate::util::{cargo, output};

/// Every folder that holds a copy of the CRDs.
fn crd_dirs() -> Vec<PathBuf> {
    let root = workspace_root();
    vec![
        root.join("config").join("crd"),
        root.join("charts").join("zeroetl-operator").join("crds"),
    ]
}

/// Splits `zeroetl-operator crd`'s multi-document YAML into `<group>_<plural>.yaml` → document text.
fn split_documents(yaml: &str) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let mut current = String::new();
    let mut documents = Vec::new();
    for line in yaml.lines() {
        if line.trim_end() == "---" {
            documents.push(std::mem::take(&mut current));
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    documents.push(current);
    for document in documents {
        let value: serde_yaml::Value =
            serde_yaml::from_str(&document).context("parse a CRD document")?;
        if value.is_null() {
            continue;
        }
        let field = |path: &[&str]| -> Result<String> {
            let mut node = &value;
            for key in path {
                node = node
                    .get(*key)
                    .with_context(|| format!("a CRD has no {}", path.join(".")))?;
            }
            node.as_str()
                .map(str::to_owned)
                .with_context(|| format!("{} is not a string", path.join(".")))
        };
        let name = format!(
            "{}_{}.yaml",
            field(&["spec", "group"])?,
            field(&["spec", "names", "plural"])?
        );
        files.insert(name, document.trim_start_matches('\n').to_owned());
    }
    if files.is_empty() {
        bail!("`zeroetl-operator crd` printed no CRD");
    }
    Ok(files)
}

/// `cargo xtask crd [--check]`: builds the operator as needed and asks it for the CRDs.
pub fn generate(check: bool) -> Result<()> {
    let yaml = output(cargo().args([
        "run",
        "-q",
        "-p",
        "zeroetl-controller",
        "--bin",
        "zeroetl-operator",
        "--",
        "crd",
    ]))?;
    write_or_check(&yaml, check)
}

/// The drift check of `cargo xtask test`, with the operator binary it has just built (a `cargo run` of the
/// single package could resolve features differently and rebuild it).
pub fn check_with_binary(operator: &Path) -> Result<()> {
    let yaml = output(Command::new(operator).arg("crd"))?;
    write_or_check(&yaml, true)
}

fn write_or_check(yaml: &str, check: bool) -> Result<()> {
    let files = split_documents(yaml)?;
    let mut stale = Vec::new();
    for dir in crd_dirs() {
        fs::create_dir_all(&dir)?;
        for (name, text) in &files {
            let path = dir.join(name);
            let current = fs::read_to_string(&path).unwrap_or_default();
            if current == *text {
                continue;
            }
            if check {
                stale.push(path.display().to_string());
            } else {
                fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
        // A CRD file nobody generates any more (a renamed kind) would still be installed by everything.
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if name.ends_with(".yaml") && !files.contains_key(&name) {
                if check {
                    stale.push(format!("{} (not generated any more)", path.display()));
                } else {
                    fs::remove_file(&path)?;
                    eprintln!("removed {}", path.display());
                }
            }
        }
    }
    if !stale.is_empty() {
        bail!(
            "CRD files out of date (run `cargo xtask crd`):\n  {}",
            stale.join("\n  ")
        );
    }
    if check {
        eprintln!("CRD files up to date");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_by_group_and_plural() {
        let yaml = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  group: a.dev\n  names:\n    plural: things\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  group: a.dev\n  names:\n    plural: others\n";
        let files = split_documents(yaml).unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["a.dev_others.yaml", "a.dev_things.yaml"]
        );
        assert!(files["a.dev_others.yaml"].starts_with("apiVersion:"));
        assert!(files["a.dev_things.yaml"].ends_with("plural: things\n"));
    }
}
