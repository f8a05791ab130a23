//! The CustomResourceDefinitions, generated from the types. `zeroetl-operator crd` prints them and
//! `config/crd/` holds the committed copy (a test fails when the two drift).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{RedshiftConnection, RedshiftConsumer, ZeroEtlIntegration};

/// Every CRD, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        ZeroEtlIntegration::crd(),
        RedshiftConnection::crd(),
        RedshiftConsumer::crd(),
    ]
}

/// The file name a CRD is committed under (`<group>_<plural>.yaml`, the kubebuilder convention).
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}
