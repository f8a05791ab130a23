//! Lazy lifecycles: every transitional object registers a timer, and [`World::advance`] pops the timers
//! that are due before a request is served. Only due timers are visited, so the cost does not grow with
//! the number of objects. A timer whose object changed meanwhile (deleted, re-steered, given a later due
//! time) is skipped: the object's own `due` is what counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::World;

/// What a timer makes due, within one account and region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    Integration(String),
    Statement(String),
    DbInstance(String),
    DbCluster(String),
    RedshiftCluster(String),
    Workgroup(String),
}

#[derive(Debug, Default)]
pub struct Timers {
    /// (due time, insertion sequence) → (account, region, what).
    queue: BTreeMap<(DateTime<Utc>, u64), (String, String, Due)>,
    seq: u64,
}

impl Timers {
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

fn is_due(due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    due.filter(|d| *d <= now)
}

impl World {
    /// Record that `what` in `account`/`region` becomes due at `at` (its `due` field says the same).
    pub fn schedule(&mut self, at: DateTime<Utc>, account: &str, region: &str, what: Due) {
        self.timers.seq += 1;
        self.timers.queue.insert(
            (at, self.timers.seq),
            (account.to_string(), region.to_string(), what),
        );
    }

    /// Apply every transition that is due at `now`, in due order.
    pub fn advance(&mut self, now: DateTime<Utc>) {
        while let Some(entry) = self.timers.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (account, region, what) = entry.remove();
            self.fire(&account, &region, what, now);
        }
    }

    fn fire(&mut self, account: &str, region_name: &str, what: Due, now: DateTime<Utc>) {
        if let Due::Statement(id) = &what {
            let due = self
                .region(account, region_name)
                .and_then(|r| r.statements.get(id))
                .and_then(|s| is_due(s.due, now));
            if due.is_some() {
                crate::sql::finish_statement(self, account, region_name, id, now);
            }
            return;
        }
        let Some(region) = self
            .accounts
            .get_mut(account)
            .and_then(|a| a.regions.get_mut(region_name))
        else {
            return;
        };
        match what {
            Due::Statement(_) => {}
            Due::Integration(arn) => {
                let Some(i) = region.integrations.get_mut(&arn) else {
                    return;
                };
                let Some(at) = is_due(i.due, now) else {
                    return;
                };
                i.due = None;
                match i.status.as_str() {
                    "deleting" => {
                        region.integrations.remove(&arn);
                    }
                    "creating" | "modifying" | "syncing" => {
                        i.status = "active".into();
                        i.active_at.get_or_insert(at);
                    }
                    _ => {}
                }
            }
            Due::DbInstance(id) => {
                let Some(inst) = region.db_instances.get_mut(&id) else {
                    return;
                };
                if is_due(inst.due, now).is_none() {
                    return;
                }
                inst.due = None;
                inst.status = "available".into();
                if let Some(g) = region.db_parameter_groups.get(&inst.parameter_group) {
                    inst.effective_parameters = g.parameters.clone();
                }
                inst.parameter_apply_status = "in-sync".into();
                // Rebooting an Aurora cluster's writer applies the cluster parameter group too.
                let cluster = inst.cluster.clone();
                if let Some(c) = cluster.and_then(|c| region.db_clusters.get_mut(&c)) {
                    if c.members.first() == Some(&id) {
                        if let Some(g) = region.db_cluster_parameter_groups.get(&c.parameter_group)
                        {
                            c.effective_parameters = g.parameters.clone();
                        }
                        c.parameter_apply_status = "in-sync".into();
                    }
                }
            }
            Due::DbCluster(id) => {
                let Some(c) = region.db_clusters.get_mut(&id) else {
                    return;
                };
                if is_due(c.due, now).is_none() {
                    return;
                }
                c.due = None;
                c.status = "available".into();
                if let Some(g) = region.db_cluster_parameter_groups.get(&c.parameter_group) {
                    c.effective_parameters = g.parameters.clone();
                }
                c.parameter_apply_status = "in-sync".into();
            }
            Due::RedshiftCluster(id) => {
                let Some(c) = region.redshift_clusters.get_mut(&id) else {
                    return;
                };
                if is_due(c.due, now).is_none() {
                    return;
                }
                c.due = None;
                if c.status == "rebooting" {
                    if let Some(g) = region.cluster_parameter_groups.get(&c.parameter_group) {
                        c.effective_parameters = g.parameters.clone();
                    }
                    c.parameter_apply_status = "in-sync".into();
                }
                c.status = "available".into();
            }
            Due::Workgroup(name) => {
                let Some(w) = region.workgroups.get_mut(&name) else {
                    return;
                };
                if is_due(w.due, now).is_none() {
                    return;
                }
                w.due = None;
                w.status = "AVAILABLE".into();
            }
        }
    }
}
