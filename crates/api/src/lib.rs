//! zeroetl-api: the custom resource types of zeroetl-operator, their validation, ARN and data-filter parsing,
//! and condition helpers. Pure: no I/O, so every rule here is unit-tested without a cluster or AWS.

pub mod arn;
pub mod conditions;
pub mod connection;
pub mod consumer;
pub mod crd;
pub mod data_filter;
pub mod integration;
pub mod interned;
pub mod patterns;
mod schema;
pub mod validation;

pub use connection::{RedshiftConnection, RedshiftConnectionSpec, RedshiftConnectionStatus};
pub use consumer::{RedshiftConsumer, RedshiftConsumerSpec, RedshiftConsumerStatus};
pub use integration::{ZeroEtlIntegration, ZeroEtlIntegrationSpec, ZeroEtlIntegrationStatus};
pub use validation::{validate_connection, validate_consumer, validate_integration, FieldError};
