//! `zeroetl-operator crd`: the CRDs as one multi-document YAML stream.

/// Renders every CRD, `---`-separated, exactly as committed under config/crd/.
pub fn render() -> String {
    zeroetl_api::crd::all()
        .iter()
        .map(|crd| serde_yaml::to_string(crd).expect("a CRD always serializes"))
        .collect::<Vec<_>>()
        .join("---\n")
}
