//! The call and write budgets the operator is judged by: which AWS operation reads what, how many reads a
//! refresh may make, and which Kubernetes writes are the operator's. Pure: no I/O.

use std::collections::BTreeMap;

use super::stats::Counters;

/// What an AWS operation costs against: the kind of thing it reads (or that it creates integrations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Budget {
    CreateIntegration,
    /// Paginated DescribeIntegrations: ceil(N/100) pages per refresh, plus objects in transition.
    IntegrationList,
    Source,
    ParameterGroup,
    Target,
    Policy,
    /// A RedshiftConnection's end-to-end verification (identity, credentials, Data API): not judged.
    ConnectionCheck,
    /// Anything else: a mutation the estate does not need (prerequisites hold) or a read nobody planned.
    Unexpected,
}

impl Budget {
    pub fn of(operation: &str) -> Budget {
        match operation {
            "rds:CreateIntegration" => Budget::CreateIntegration,
            "rds:DescribeIntegrations" => Budget::IntegrationList,
            "rds:DescribeDBClusters" | "rds:DescribeDBInstances" => Budget::Source,
            "rds:DescribeDBClusterParameterGroups"
            | "rds:DescribeDBClusterParameters"
            | "rds:DescribeDBParameterGroups"
            | "rds:DescribeDBParameters" => Budget::ParameterGroup,
            "redshift:GetResourcePolicy" => Budget::Policy,
            "redshift-serverless:GetNamespace"
            | "redshift-serverless:ListNamespaces"
            | "redshift-serverless:GetWorkgroup"
            | "redshift-serverless:ListWorkgroups"
            | "redshift:DescribeClusters"
            | "redshift:DescribeClusterParameterGroups"
            | "redshift:DescribeClusterParameters"
            | "redshift:DescribeInboundIntegrations" => Budget::Target,
            "sts:GetCallerIdentity"
            | "sts:AssumeRole"
            | "redshift-serverless:GetCredentials"
            | "redshift:GetClusterCredentials"
            | "redshift-data:ExecuteStatement"
            | "redshift-data:DescribeStatement"
            | "redshift-data:GetStatementResult"
            | "s3:GetBucketLocation"
            | "s3:HeadBucket"
            | "iam:GetRole"
            | "kms:DescribeKey" => Budget::ConnectionCheck,
            _ => Budget::Unexpected,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Budget::CreateIntegration => "integration creates",
            Budget::IntegrationList => "integration describes",
            Budget::Source => "source reads",
            Budget::ParameterGroup => "parameter group reads",
            Budget::Target => "target reads",
            Budget::Policy => "policy reads",
            Budget::ConnectionCheck => "connection verification",
            Budget::Unexpected => "not in any budget",
        }
    }
}

/// How many distinct things the fleet has.
#[derive(Debug, Clone, Copy)]
pub struct Distinct {
    pub integrations: usize,
    pub sources: usize,
    pub parameter_groups: usize,
    /// Target warehouses; a serverless one is a namespace (its ARN) and a workgroup (its endpoint and
    /// settings), two things to read.
    pub targets: usize,
}

impl Distinct {
    /// DescribeIntegrations pages of 100 for the whole fleet.
    pub fn pages(&self) -> u64 {
        self.integrations.div_ceil(100) as u64
    }

    /// The most calls `budget` may make in a phase; `None`: not judged.
    pub fn allowance(&self, budget: Budget, allowed: Allowed) -> Option<f64> {
        let shared = |n: usize| Some(allowed.shared_reads * n as f64);
        match budget {
            Budget::CreateIntegration => Some(allowed.creates as f64),
            Budget::IntegrationList => {
                Some(allowed.refreshes * self.pages() as f64 + allowed.in_transition as f64)
            }
            Budget::Source => shared(self.sources),
            // One read of a parameter group is two calls (the group, for its family, and its parameters), as
            // one read of a target is two (its namespace and its workgroup).
            Budget::ParameterGroup => shared(2 * self.parameter_groups),
            Budget::Target => shared(2 * self.targets),
            Budget::Policy => shared(self.targets),
            Budget::ConnectionCheck => None,
            Budget::Unexpected => Some(0.0),
        }
    }
}

/// What a phase may spend.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allowed {
    /// Fleet refreshes: ceil(N/100) DescribeIntegrations pages each.
    pub refreshes: f64,
    /// How often each distinct source, parameter group, target and policy may be read: once per refresh
    /// while objects converge; in a steady state, once per shared-read TTL across the full checks, which
    /// are spread over the drift interval rather than made all at once.
    pub shared_reads: f64,
    /// Integrations that may each be described once more on their own.
    pub in_transition: usize,
    /// Integrations created.
    pub creates: usize,
}

impl Allowed {
    /// One read of everything per refresh.
    pub fn per_refresh(refreshes: f64) -> Allowed {
        Allowed {
            refreshes,
            shared_reads: refreshes,
            ..Allowed::default()
        }
    }

    /// A steady phase of `window`: shared reads once per refresh, or once per `ttl` when that allows more.
    pub fn steady(
        refreshes: f64,
        window: std::time::Duration,
        ttl: std::time::Duration,
    ) -> Allowed {
        let per_ttl = (window.as_secs_f64() / ttl.as_secs_f64().max(1e-9)).ceil();
        Allowed {
            shared_reads: refreshes.max(per_ttl),
            ..Allowed::per_refresh(refreshes)
        }
    }
}

/// AWS call attempts grouped by budget, each with its operations.
pub fn by_budget(calls: &BTreeMap<String, u64>) -> BTreeMap<Budget, Vec<(String, u64)>> {
    let mut grouped: BTreeMap<Budget, Vec<(String, u64)>> = BTreeMap::new();
    for (operation, count) in calls {
        // The sim's own tally of mutating calls is not an operation.
        if operation == "mutating" {
            continue;
        }
        grouped
            .entry(Budget::of(operation))
            .or_default()
            .push((operation.clone(), *count));
    }
    grouped
}

/// Resources the operator writes (its own kinds and their status, events, published Secrets, leases).
const OPERATOR_RESOURCES: &[&str] = &[
    "zeroetl.dev/",
    "core/events",
    "events.k8s.io/events",
    "core/secrets",
    "coordination.k8s.io/leases",
    "core/configmaps",
];

/// Kubernetes writes split into the operator's and everyone else's, by `verb group/resource[/sub]`.
#[derive(Debug, Default, Clone)]
pub struct Writes {
    pub operator: Counters,
    pub others: Counters,
}

impl Writes {
    /// `bench_creates` are the objects the bench itself created (`verb group/resource` → count); they are
    /// taken off the operator's side.
    pub fn split(writes: &Counters, bench_creates: &Counters) -> Writes {
        let mut split = Writes::default();
        for (series, count) in writes {
            let count = count - bench_creates.get(series).copied().unwrap_or(0.0);
            if count <= 0.0 {
                continue;
            }
            let resource = series.split_once(' ').map_or("", |(_, r)| r);
            let side = if OPERATOR_RESOURCES.iter().any(|r| resource.starts_with(r)) {
                &mut split.operator
            } else {
                &mut split.others
            };
            side.insert(series.clone(), count);
        }
        split
    }

    /// Counters are whole numbers; an integer also avoids printing an empty f64 sum as "-0".
    pub fn operator_total(&self) -> u64 {
        self.operator.values().map(|v| v.round() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn operations_fall_into_their_budgets() {
        assert_eq!(
            Budget::of("rds:CreateIntegration"),
            Budget::CreateIntegration
        );
        assert_eq!(Budget::of("rds:DescribeDBInstances"), Budget::Source);
        assert_eq!(Budget::of("redshift:GetResourcePolicy"), Budget::Policy);
        assert_eq!(Budget::of("redshift:PutResourcePolicy"), Budget::Unexpected);
        assert_eq!(Budget::of("rds:ModifyDBCluster"), Budget::Unexpected);
    }

    #[test]
    fn allowances_scale_with_refreshes_and_distinct_things() {
        let fleet = Distinct {
            integrations: 1000,
            sources: 1000,
            parameter_groups: 1,
            targets: 2,
        };
        assert_eq!(fleet.pages(), 10);
        let ramp = Allowed {
            in_transition: 1000,
            creates: 1000,
            ..Allowed::per_refresh(3.0)
        };
        assert_eq!(fleet.allowance(Budget::IntegrationList, ramp), Some(1030.0));
        assert_eq!(
            fleet.allowance(Budget::CreateIntegration, ramp),
            Some(1000.0)
        );
        assert_eq!(
            fleet.allowance(Budget::Policy, Allowed::per_refresh(2.0)),
            Some(4.0)
        );
        // One read of the one group per refresh: the group and its parameters, two calls.
        assert_eq!(
            fleet.allowance(Budget::ParameterGroup, Allowed::per_refresh(1.0)),
            Some(2.0)
        );
        assert_eq!(
            fleet.allowance(Budget::Target, Allowed::per_refresh(2.0)),
            Some(8.0)
        );
        assert_eq!(fleet.allowance(Budget::Unexpected, ramp), Some(0.0));
        assert_eq!(fleet.allowance(Budget::ConnectionCheck, ramp), None);
    }

    /// A 630 s steady window with two refreshes: full checks spread over the drift interval may read a shared
    /// thing once per 60 s TTL (11 times), not only twice; the describes stay bound to the refreshes.
    #[test]
    fn a_steady_window_allows_shared_reads_once_per_ttl() {
        let fleet = Distinct {
            integrations: 1000,
            sources: 1000,
            parameter_groups: 1,
            targets: 1,
        };
        let steady = Allowed::steady(2.0, Duration::from_secs(630), Duration::from_secs(60));
        assert_eq!(fleet.allowance(Budget::Policy, steady), Some(11.0));
        assert_eq!(fleet.allowance(Budget::ParameterGroup, steady), Some(22.0));
        assert_eq!(fleet.allowance(Budget::IntegrationList, steady), Some(20.0));
        // A short window keeps one read per refresh.
        let short = Allowed::steady(2.0, Duration::from_secs(60), Duration::from_secs(60));
        assert_eq!(fleet.allowance(Budget::Policy, short), Some(2.0));
    }

    #[test]
    fn bench_creates_are_not_the_operators_and_apiserver_upkeep_is_not_either() {
        let writes: Counters = [
            ("POST zeroetl.dev/zeroetlintegrations".to_owned(), 10.0),
            ("PATCH zeroetl.dev/zeroetlintegrations".to_owned(), 10.0),
            (
                "PATCH zeroetl.dev/zeroetlintegrations/status".to_owned(),
                20.0,
            ),
            ("POST events.k8s.io/events".to_owned(), 5.0),
            ("PUT core/endpoints".to_owned(), 1.0),
        ]
        .into();
        let bench: Counters = [("POST zeroetl.dev/zeroetlintegrations".to_owned(), 10.0)].into();
        let split = Writes::split(&writes, &bench);
        assert_eq!(split.operator_total(), 35);
        assert_eq!(split.others.len(), 1);
        assert!(!split
            .operator
            .contains_key("POST zeroetl.dev/zeroetlintegrations"));
    }
}
