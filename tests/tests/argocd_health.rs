//! Argo CD health for every kind: every case of each kind's `health_test.yaml`,
//! run with `lua5.1` the way Argo CD runs argocd-cm health scripts, and the argocd-cm snippets we publish
//! (docs/gitops.md, config/argocd/argocd-cm.yaml) carry exactly the tested scripts.

use std::collections::BTreeSet;

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use zeroetl_e2e::argocd_health::{
    evaluate, evaluate_script, health_cases, kind_dir, lua_literal, read_manifest, require_lua,
    HealthStatus, INVALID_STATUS_MESSAGE, KINDS,
};
use zeroetl_e2e::paths::workspace_root;

#[test]
fn every_health_test_case_gives_the_expected_status_and_message() -> Result<()> {
    require_lua()?;
    let mut failures = Vec::new();
    let mut ran = 0;
    for kind in KINDS {
        for case in health_cases(kind)? {
            let object = read_manifest(&kind_dir(kind).join(&case.input_path))?;
            let got =
                evaluate(kind, &object).with_context(|| format!("{kind} {}", case.input_path))?;
            if got != case.health_status {
                failures.push(format!(
                    "{kind} {}: expected {:?}, got {:?}",
                    case.input_path, case.health_status, got
                ));
            }
            ran += 1;
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    ensure!(ran >= 20, "only {ran} health cases ran");
    Ok(())
}

/// Every kind is tested in each health Argo CD can show for it, while being deleted, and with the features that
/// suspend it; no test input is left unused.
#[test]
fn each_kind_covers_every_health_and_uses_all_its_inputs() -> Result<()> {
    for kind in KINDS {
        let cases = health_cases(kind)?;
        let statuses: BTreeSet<&str> = cases
            .iter()
            .map(|c| c.health_status.status.as_str())
            .collect();
        for wanted in ["Healthy", "Progressing", "Degraded", "Suspended"] {
            ensure!(statuses.contains(wanted), "{kind}: no {wanted} case");
        }
        let inputs: Vec<Value> = cases
            .iter()
            .map(|c| read_manifest(&kind_dir(kind).join(&c.input_path)))
            .collect::<Result<_>>()?;
        let has = |what: &str, test: &dyn Fn(&Value) -> bool| {
            ensure!(inputs.iter().any(test), "{kind}: no case {what}");
            Ok(())
        };
        has("without status", &|o| o.get("status").is_none())?;
        has("being deleted", &|o| {
            o.pointer("/metadata/deletionTimestamp").is_some()
        })?;
        has("paused", &|o| {
            o.pointer("/metadata/annotations/zeroetl.dev~1paused") == Some(&json!("true"))
        })?;
        if spec_declares(kind, "managementPolicy")? {
            has("with managementPolicy ObserveOnly", &|o| {
                o.pointer("/spec/managementPolicy") == Some(&json!("ObserveOnly"))
            })?;
            has("with managementPolicy Plan", &|o| {
                o.pointer("/spec/managementPolicy") == Some(&json!("Plan"))
            })?;
        }
        has("with an unobserved generation", &|o| {
            o.pointer("/status/observedGeneration").is_some()
                && o.pointer("/status/observedGeneration") != o.pointer("/metadata/generation")
        })?;
        for input in &inputs {
            ensure!(
                input["kind"] == kind && input["apiVersion"] == "zeroetl.dev/v1alpha1",
                "{kind}: an input is a {} {}",
                input["apiVersion"],
                input["kind"]
            );
        }

        let used: BTreeSet<String> = cases.iter().map(|c| c.input_path.clone()).collect();
        for entry in std::fs::read_dir(kind_dir(kind).join("testdata"))? {
            let name = format!("testdata/{}", entry?.file_name().to_string_lossy());
            ensure!(
                used.contains(&name),
                "{kind}: {name} is in no case of health_test.yaml"
            );
        }
    }
    Ok(())
}

/// Every kind the operator serves (the committed CRDs) has a health check.
#[test]
fn every_crd_kind_has_a_health_check() -> Result<()> {
    let served: BTreeSet<String> = committed_crds()?
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    let checked: BTreeSet<String> = KINDS.iter().map(|k| k.to_string()).collect();
    ensure!(
        served == checked,
        "CRDs {served:?}, health checks {checked:?}"
    );
    Ok(())
}

/// (kind, CRD) for each file in config/crd.
fn committed_crds() -> Result<Vec<(String, Value)>> {
    let mut crds = Vec::new();
    for entry in std::fs::read_dir(workspace_root().join("config/crd"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let crd = read_manifest(&path)?;
            if crd["kind"] == "CustomResourceDefinition" {
                let kind = crd["spec"]["names"]["kind"]
                    .as_str()
                    .context("names.kind")?;
                crds.push((kind.to_string(), crd));
            }
        }
    }
    Ok(crds)
}

/// Whether the kind's spec has the field, so a feature is only asked of the kinds that have it.
fn spec_declares(kind: &str, field: &str) -> Result<bool> {
    let crds = committed_crds()?;
    let (_, crd) = crds
        .iter()
        .find(|(k, _)| k == kind)
        .with_context(|| format!("no CRD for {kind} in config/crd"))?;
    let properties = crd
        .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties")
        .context("spec properties")?;
    Ok(properties.get(field).is_some())
}

/// The runner must be as strict as Argo CD, or a script could pass here and fail there.
#[test]
fn the_runner_refuses_what_argocd_refuses() -> Result<()> {
    require_lua()?;
    let dir = std::env::temp_dir().join(format!("zeroetl-lua-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = |name: &str, body: &str| -> Result<std::path::PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, body)?;
        Ok(path)
    };
    let object = json!({"metadata": {"name": "x", "generation": 2}, "status": {"conditions": []}});

    let string_library = script("string.lua", "return {status = string.upper(\"healthy\")}")?;
    let string_method = script("method.lua", "return {status = obj.metadata.name:upper()}")?;
    let math_library = script("math.lua", "return {status = tostring(math.floor(1.5))}")?;
    for refused in [&string_library, &string_method, &math_library] {
        let outcome = evaluate_script(refused, &object);
        ensure!(
            outcome.is_err(),
            "{} ran, but Argo CD has no string or math library for argocd-cm scripts: {outcome:?}",
            refused.display()
        );
    }

    let invalid = script("invalid.lua", "return {status = \"Fine\", message = \"x\"}")?;
    ensure!(
        evaluate_script(&invalid, &object)?
            == HealthStatus {
                status: "Unknown".into(),
                message: INVALID_STATUS_MESSAGE.into()
            }
    );

    // What the scripts may rely on: table and os.time, numbers compare as numbers, arrays start at 1.
    let allowed = script(
        "allowed.lua",
        "local t = {} table.insert(t, obj.metadata.name) \
         assert(os.time() > 0) assert(obj.metadata.generation > 1) \
         return {status = \"Healthy\", message = t[1] .. \" \" .. #obj.status.conditions}",
    )?;
    let got = evaluate_script(&allowed, &object)?;
    std::fs::remove_dir_all(&dir)?;
    ensure!(
        got == HealthStatus {
            status: "Healthy".into(),
            message: "x 0".into()
        },
        "{got:?}"
    );
    Ok(())
}

#[test]
fn lua_literals_escape_every_byte_that_is_not_printable() {
    assert_eq!(
        lua_literal(&json!({"a": ["q\"\\", "é\n1"], "n": 3, "f": 1.5, "b": true, "z": null})),
        r#"{["a"] = {"q\"\\", "\195\169\0101"}, ["b"] = true, ["f"] = 1.5, ["n"] = 3, ["z"] = nil}"#
    );
}

/// The two ways argocd-cm can hold a health script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyForm {
    /// `resource.customizations: |` with `zeroetl.dev/<Kind>: {health.lua: …}` inside.
    Classic,
    /// `resource.customizations.health.zeroetl.dev_<Kind>: |`.
    PerKind,
}

/// (kind, key form, script) for every health script of ours inside a ConfigMap's `data`.
fn scripts_in_configmap_data(data: &Value) -> Result<Vec<(String, KeyForm, String)>> {
    let mut found = Vec::new();
    for (key, value) in data.as_object().into_iter().flatten() {
        let Some(text) = value.as_str() else { continue };
        if let Some(kind) = key.strip_prefix("resource.customizations.health.zeroetl.dev_") {
            found.push((kind.to_string(), KeyForm::PerKind, text.to_string()));
        } else if key == "resource.customizations" {
            let parsed: Value = serde_yaml::from_str(text).context("resource.customizations")?;
            for (group_kind, custom) in parsed.as_object().into_iter().flatten() {
                let kind = group_kind.strip_prefix("zeroetl.dev/");
                let script = custom.get("health.lua").and_then(Value::as_str);
                if let (Some(kind), Some(script)) = (kind, script) {
                    found.push((kind.to_string(), KeyForm::Classic, script.to_string()));
                }
            }
        }
    }
    Ok(found)
}

/// Each kind's script appears in every one of `forms`, identical to its health.lua.
fn check_scripts(
    origin: &str,
    found: &[(String, KeyForm, String)],
    forms: &[KeyForm],
) -> Result<()> {
    for kind in KINDS {
        let path = kind_dir(kind).join("health.lua");
        let script = std::fs::read_to_string(&path)?;
        for form in forms {
            let Some((_, _, text)) = found.iter().find(|(k, f, _)| k == kind && f == form) else {
                bail!("{origin}: no {form:?} argocd-cm health script for {kind}");
            };
            ensure!(
                *text == script,
                "{origin}: the {form:?} script for {kind} differs from {}",
                path.display()
            );
        }
    }
    Ok(())
}

/// The bodies of the markdown's ```yaml fenced blocks.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn argocd_cm_snippets_carry_the_tested_scripts() -> Result<()> {
    let root = workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/gitops.md"))?;
    let mut in_doc = Vec::new();
    for block in yaml_blocks(&doc) {
        for document in serde_yaml::Deserializer::from_str(&block) {
            let value = Value::deserialize(document).context("a YAML block in docs/gitops.md")?;
            in_doc.extend(scripts_in_configmap_data(&value["data"])?);
        }
    }
    check_scripts(
        "docs/gitops.md",
        &in_doc,
        &[KeyForm::Classic, KeyForm::PerKind],
    )?;

    let cm_path = root.join("config/argocd/argocd-cm.yaml");
    let cm = read_manifest(&cm_path)?;
    ensure!(
        cm["kind"] == "ConfigMap" && cm["metadata"]["name"] == "argocd-cm",
        "{} is not the argocd-cm ConfigMap",
        cm_path.display()
    );
    check_scripts(
        "config/argocd/argocd-cm.yaml",
        &scripts_in_configmap_data(&cm["data"])?,
        &[KeyForm::PerKind],
    )
}
