//! Parsing of the ARNs the operator works with. Parsing is pure; it never guesses missing parts.

use std::fmt;

/// The common shape `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    pub resource: String,
}

impl Arn {
    pub fn parse(s: &str) -> Option<Arn> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let arn = Arn {
            partition: parts.next()?.to_string(),
            service: parts.next()?.to_string(),
            region: parts.next()?.to_string(),
            account: parts.next()?.to_string(),
            resource: parts.next()?.to_string(),
        };
        (!arn.partition.is_empty() && !arn.service.is_empty() && !arn.resource.is_empty())
            .then_some(arn)
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

/// What kind of RDS resource a zero-ETL source is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// An Aurora cluster (`cluster:`).
    Cluster,
    /// An RDS DB instance (`db:`).
    Instance,
}

/// An RDS source ARN, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceArn {
    pub arn: Arn,
    pub kind: SourceKind,
    pub identifier: String,
}

impl SourceArn {
    pub fn parse(s: &str) -> Option<SourceArn> {
        let arn = Arn::parse(s)?;
        if arn.service != "rds" || arn.region.is_empty() || arn.account.len() != 12 {
            return None;
        }
        let (kind, id) = match arn.resource.split_once(':')? {
            ("cluster", id) => (SourceKind::Cluster, id),
            ("db", id) => (SourceKind::Instance, id),
            _ => return None,
        };
        let identifier = id.to_string();
        (!identifier.is_empty()).then_some(SourceArn {
            arn,
            kind,
            identifier,
        })
    }
}

/// Whether a Redshift warehouse is provisioned or serverless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarehouseKind {
    Provisioned,
    Serverless,
}

/// A Redshift namespace ARN, the zero-ETL target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceArn {
    pub arn: Arn,
    pub kind: WarehouseKind,
    pub namespace_id: String,
}

impl NamespaceArn {
    pub fn parse(s: &str) -> Option<NamespaceArn> {
        let arn = Arn::parse(s)?;
        let (kind, id) = match arn.service.as_str() {
            // Provisioned clusters use a colon, serverless a slash; docs/aws-facts.md, "Redshift side".
            "redshift" => (
                WarehouseKind::Provisioned,
                arn.resource.strip_prefix("namespace:")?,
            ),
            "redshift-serverless" => (
                WarehouseKind::Serverless,
                arn.resource.strip_prefix("namespace/")?,
            ),
            _ => return None,
        };
        let namespace_id = id.to_string();
        (!namespace_id.is_empty() && arn.account.len() == 12).then_some(NamespaceArn {
            arn,
            kind,
            namespace_id,
        })
    }
}

/// The integration id used in SQL is the last segment of the integration ARN (`…:integration:<uuid>`).
pub fn integration_id(integration_arn: &str) -> Option<&str> {
    integration_arn
        .rsplit_once(":integration:")
        .map(|(_, id)| id)
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources_and_targets() {
        let s =
            SourceArn::parse("arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora").unwrap();
        assert_eq!(
            (s.kind, s.identifier.as_str(), s.arn.region.as_str()),
            (SourceKind::Cluster, "orders-aurora", "us-east-1")
        );
        let i = SourceArn::parse("arn:aws:rds:eu-west-1:111111111111:db:inventory").unwrap();
        assert_eq!(i.kind, SourceKind::Instance);
        assert!(SourceArn::parse("arn:aws:rds:us-east-1:111111111111:integration:x").is_none());
        assert!(SourceArn::parse("arn:aws:redshift:us-east-1:111111111111:cluster:x").is_none());

        let p =
            NamespaceArn::parse("arn:aws:redshift:us-east-1:111111111111:namespace:abc").unwrap();
        assert_eq!(
            (p.kind, p.namespace_id.as_str()),
            (WarehouseKind::Provisioned, "abc")
        );
        let v =
            NamespaceArn::parse("arn:aws:redshift-serverless:us-east-1:111111111111:namespace/abc")
                .unwrap();
        assert_eq!(v.kind, WarehouseKind::Serverless);
        assert!(NamespaceArn::parse(
            "arn:aws:redshift-serverless:us-east-1:111111111111:namespace:abc"
        )
        .is_none());
        assert_eq!(
            v.arn.to_string(),
            "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/abc"
        );
    }

    #[test]
    fn integration_id_is_the_last_segment() {
        assert_eq!(
            integration_id("arn:aws:rds:us-east-1:111111111111:integration:5b9f-1"),
            Some("5b9f-1")
        );
        assert_eq!(
            integration_id("arn:aws:rds:us-east-1:111111111111:cluster:x"),
            None
        );
    }
}
