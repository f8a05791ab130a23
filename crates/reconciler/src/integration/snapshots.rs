//! Shared observation of integrations: one poller per (region, identity) pages DescribeIntegrations (100 per
//! page) into a snapshot, by ARN and by name, and wakes exactly the objects whose integration changed. A
//! thousand integrations cost ceil(1000/100) describes per refresh instead of a thousand. The refresh is fast
//! while any integration is on its way somewhere (creating, modifying, deleting, syncing) or the operator just
//! changed one, slow otherwise.
//!
//! Passes read the snapshot instead of describing their integration, except when it may be stale for them:
//! no snapshot yet, or the operator changed that integration after the snapshot was taken (then they describe
//! it directly, as before).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_rds::types::IntegrationStatus;
use kube::runtime::reflector::ObjectRef;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, warn};
use zeroetl_api::ZeroEtlIntegration;

use super::observe::aws_integration;
use super::observed::AwsIntegration;
use crate::aws::{sdk_error, Clients};
use crate::error::Result;
use crate::metrics::Metrics;
use crate::ownership::Owner;
use crate::timing;

/// How often the pollers refresh.
#[derive(Clone, Copy, Debug)]
pub struct Refresh {
    /// The fastest refresh: right after a change, while any integration is in transition or the operator
    /// just changed one; slower the longer nothing changes ([`timing::a_tenth_of`]).
    pub fast: Duration,
    /// Otherwise (`--aws-refresh-interval`).
    pub slow: Duration,
}

impl Default for Refresh {
    fn default() -> Self {
        Refresh {
            fast: timing::SNAPSHOT_FAST_REFRESH,
            slow: timing::SNAPSHOT_SLOW_REFRESH,
        }
    }
}

/// The wake channel into an integration controller (`Controller::reconcile_on`).
pub type Waker = mpsc::UnboundedSender<ObjectRef<ZeroEtlIntegration>>;

/// A controller to wake and the namespace it watches (`None`: all namespaces).
type Watching = (Option<String>, Waker);

/// The controllers to wake.
#[derive(Clone, Default)]
pub struct Wakers(Arc<RwLock<Vec<Watching>>>);

impl Wakers {
    fn wake(&self, object: ObjectRef<ZeroEtlIntegration>) {
        for (namespace, waker) in self.0.read().iter() {
            if namespace.is_none() || *namespace == object.namespace {
                let _ = waker.send(object.clone());
            }
        }
    }

    fn closed(&self) -> bool {
        self.0.read().iter().all(|(_, w)| w.is_closed())
    }
}

#[derive(Default)]
pub struct Snapshots {
    regions: Mutex<HashMap<String, Arc<Region>>>,
    wakers: Wakers,
    connected: OnceLock<()>,
    refresh: RwLock<Refresh>,
    /// This operator's cluster name: integrations tagged for it wake their object by its tags.
    cluster: OnceLock<String>,
    metrics: OnceLock<Arc<Metrics>>,
}

/// Entries are shared: a refresh keeps the previous entry of every integration that did not change, so at
/// 5,000 integrations a refresh does not hold two copies of the fleet, and by name and by ARN point at one.
struct Snapshot {
    taken: Instant,
    by_arn: Index<BY_ARN>,
    by_name: Index<BY_NAME>,
}

const BY_ARN: bool = false;
const BY_NAME: bool = true;

/// Entries filed under one of their own fields (ARN or name), so the index keeps no second copy of its keys.
struct Index<const NAME: bool>(HashSet<Filed<NAME>>);

struct Filed<const NAME: bool>(Arc<AwsIntegration>);

impl<const NAME: bool> Filed<NAME> {
    fn key(&self) -> &str {
        if NAME {
            &self.0.name
        } else {
            &self.0.arn
        }
    }
}

// Hash and equality are the key's, as `Borrow<str>` requires.
impl<const NAME: bool> std::hash::Hash for Filed<NAME> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}

impl<const NAME: bool> PartialEq for Filed<NAME> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<const NAME: bool> Eq for Filed<NAME> {}

impl<const NAME: bool> std::borrow::Borrow<str> for Filed<NAME> {
    fn borrow(&self) -> &str {
        self.key()
    }
}

impl<const NAME: bool> Index<NAME> {
    fn get(&self, key: &str) -> Option<&Arc<AwsIntegration>> {
        self.0.get(key).map(|filed| &filed.0)
    }

    fn contains_key(&self, key: &str) -> bool {
        self.0.contains(key)
    }

    fn values(&self) -> impl Iterator<Item = &Arc<AwsIntegration>> {
        self.0.iter().map(|filed| &filed.0)
    }
}

impl<const NAME: bool> FromIterator<Arc<AwsIntegration>> for Index<NAME> {
    fn from_iter<I: IntoIterator<Item = Arc<AwsIntegration>>>(entries: I) -> Self {
        Index(entries.into_iter().map(Filed).collect())
    }
}

#[cfg(test)]
impl<const NAME: bool> std::ops::Index<&str> for Index<NAME> {
    type Output = Arc<AwsIntegration>;
    fn index(&self, key: &str) -> &Arc<AwsIntegration> {
        self.get(key).expect("no entry under that key")
    }
}

#[derive(Default)]
struct Region {
    snapshot: RwLock<Option<Snapshot>>,
    /// Names and ARNs the operator changed, and when: the snapshot is stale for them until it is newer.
    touched: Mutex<HashMap<String, Instant>>,
    /// Names and ARNs objects looked up, and who: woken when that integration changes. Nearly every key has
    /// one object, so a short list (of references without resource version or UID) instead of a set.
    interest: Mutex<HashMap<String, Vec<ObjectRef<ZeroEtlIntegration>>>>,
    /// When a refresh last saw an integration change, or the operator last changed one.
    last_change: Mutex<Option<Instant>>,
    kick: Notify,
    /// The poller's first read is over (published or failed); `first_read` wakes the passes waiting for it.
    first_read_over: AtomicBool,
    first_read: Notify,
}

impl Snapshots {
    /// Wires the pollers to an integration controller watching `namespace` (`None`: all); done by the
    /// controller crate. Without it, no poller runs and every pass describes directly.
    pub fn connect(
        &self,
        namespace: Option<&str>,
        waker: Waker,
        cluster: &str,
        refresh: Refresh,
        metrics: Arc<Metrics>,
    ) {
        self.wakers
            .0
            .write()
            .push((namespace.map(str::to_string), waker));
        let _ = self.cluster.set(cluster.to_string());
        let _ = self.metrics.set(metrics);
        *self.refresh.write() = refresh;
        let _ = self.connected.set(());
    }

    /// The integration by stored ARN, then by name, from the snapshot of `c`'s region and identity; `None`
    /// when the snapshot cannot answer (there is none yet, or it predates the operator's own change). Records
    /// `object`'s interest, so it is woken when that integration changes.
    /// With `after_first_read`, it first waits (at most [`timing::FIRST_SNAPSHOT_WAIT`]) for the region's first
    /// read while that is under way: after a restart, a fleet's first passes would otherwise find no snapshot
    /// yet and each describe its integration directly. After a failed first read it does not wait.
    pub async fn find(
        &self,
        c: &Arc<Clients>,
        stored_arn: Option<&str>,
        name: &str,
        object: ObjectRef<ZeroEtlIntegration>,
        after_first_read: bool,
    ) -> Option<Option<AwsIntegration>> {
        self.connected.get()?;
        let region = self.region(c);
        if after_first_read {
            region.wait_for_first_read().await;
        }
        let too_old = self.refresh.read().slow * 2;
        region.lookup(stored_arn, name, object, too_old)
    }

    /// The operator changed (created, modified, tagged, deleted) the integration known by these keys: passes
    /// describe it directly until a newer snapshot is taken, and the poller refreshes soon.
    pub fn touched(&self, c: &Clients, keys: &[&str]) {
        let Some(region) = self
            .regions
            .lock()
            .get(&format!("{}|{}", c.region, c.identity))
            .cloned()
        else {
            // No snapshot of that region yet: nothing can be stale.
            return;
        };
        let now = Instant::now();
        {
            let mut touched = region.touched.lock();
            for k in keys {
                touched.insert(k.to_string(), now);
            }
        }
        *region.last_change.lock() = Some(now);
        region.kick.notify_one();
    }

    /// Forgets a released object's interest, recorded under the same stored ARN and name [`find`](Self::find)
    /// was given: a key no object asks about any more goes too, so a fleet that churns does not grow the map
    /// for ever.
    pub fn forget(
        &self,
        object: &ObjectRef<ZeroEtlIntegration>,
        stored_arn: Option<&str>,
        name: &str,
    ) {
        let keys: Vec<&str> = interest_keys(stored_arn, name).collect();
        for region in self.regions.lock().values() {
            region.forget(object, &keys);
        }
    }

    /// The state of `c`'s region and identity, with its poller started on first use.
    fn region(&self, c: &Arc<Clients>) -> Arc<Region> {
        let key = format!("{}|{}", c.region, c.identity);
        let mut regions = self.regions.lock();
        if let Some(r) = regions.get(&key) {
            return r.clone();
        }
        let region = Arc::new(Region::default());
        regions.insert(key, region.clone());
        if let Some(cluster) = self.cluster.get() {
            tokio::spawn(poll(
                c.clone(),
                region.clone(),
                self.wakers.clone(),
                cluster.clone(),
                *self.refresh.read(),
                self.metrics.get().cloned(),
            ));
        }
        region
    }
}

/// The keys an object's interest is recorded under: its stored ARN, if any, and its name.
fn interest_keys<'a>(stored_arn: Option<&'a str>, name: &'a str) -> impl Iterator<Item = &'a str> {
    stored_arn.into_iter().chain([name])
}

impl Region {
    async fn wait_for_first_read(&self) {
        let over = self.first_read.notified();
        tokio::pin!(over);
        // Registered before the check, so a read that ends in between still wakes it.
        over.as_mut().enable();
        if !self.first_read_over.load(Ordering::Acquire) {
            let _ = tokio::time::timeout(timing::FIRST_SNAPSHOT_WAIT, over).await;
        }
    }

    /// [`Snapshots::find`] in this region; `too_old`: the age past which the snapshot does not answer.
    fn lookup(
        &self,
        stored_arn: Option<&str>,
        name: &str,
        object: ObjectRef<ZeroEtlIntegration>,
        too_old: Duration,
    ) -> Option<Option<AwsIntegration>> {
        // Interest first, then the read: a refresh in between wakes the object instead of being missed.
        self.interested(interest_keys(stored_arn, name), object.clone());
        let snapshot = self.snapshot.read();
        let snapshot = snapshot.as_ref()?;
        let touched = self.touched.lock();
        let stale = interest_keys(stored_arn, name)
            .any(|k| touched.get(k).is_some_and(|at| *at >= snapshot.taken));
        if stale || snapshot.taken.elapsed() > too_old {
            return None;
        }
        let by_arn = stored_arn.and_then(|arn| snapshot.by_arn.get(arn));
        if by_arn.is_some() {
            // Found by its ARN, which a pass tries first: what happens under its name no longer matters to
            // it. One key per object instead of two, at a few hundred bytes each for a fleet.
            self.forget(&object, &[name]);
        }
        let by_name = || snapshot.by_name.get(name);
        Some(by_arn.or_else(by_name).map(|i| AwsIntegration::clone(i)))
    }

    /// Records that `object` looked up these keys.
    fn interested<'a>(
        &self,
        keys: impl Iterator<Item = &'a str>,
        mut object: ObjectRef<ZeroEtlIntegration>,
    ) {
        // Only the name and namespace identify whom to wake; the rest is per-version noise kept per key.
        object.extra = Default::default();
        let mut interest = self.interest.lock();
        for key in keys {
            // Room for the one object nearly every key has (a plain push makes room for four).
            let who = interest
                .entry(key.to_string())
                .or_insert_with(|| Vec::with_capacity(1));
            if !who.contains(&object) {
                who.push(object.clone());
            }
        }
    }

    fn forget(&self, object: &ObjectRef<ZeroEtlIntegration>, keys: &[&str]) {
        let mut interest = self.interest.lock();
        for key in keys {
            if let Some(who) = interest.get_mut(*key) {
                who.retain(|o| o != object);
                if who.is_empty() {
                    interest.remove(*key);
                }
            }
        }
    }
}

/// One poller: refresh, wake the objects whose integration changed, sleep (fast or slow), again. It stops when
/// the controller's wake channel closes.
async fn poll(
    c: Arc<Clients>,
    region: Arc<Region>,
    wakers: Wakers,
    cluster: String,
    refresh: Refresh,
    metrics: Option<Arc<Metrics>>,
) {
    loop {
        let started = Instant::now();
        let busy = match read_all(&c, &region).await {
            Ok(integrations) => {
                if let Some(m) = &metrics {
                    m.refreshed(&c.region);
                }
                let woken = publish(&region, integrations, started, &wakers, &cluster);
                debug!(
                    region = %c.region,
                    woken,
                    took_ms = started.elapsed().as_millis() as u64,
                    "integration snapshot refreshed"
                );
                let snapshot = region.snapshot.read();
                let in_transition = snapshot.as_ref().is_some_and(|s| {
                    s.by_arn.values().any(|i| {
                        matches!(
                            i.status,
                            IntegrationStatus::Creating
                                | IntegrationStatus::Modifying
                                | IntegrationStatus::Deleting
                                | IntegrationStatus::Syncing
                        )
                    })
                });
                let recently_touched = region
                    .touched
                    .lock()
                    .values()
                    .any(|at| at.elapsed() < refresh.slow.min(timing::SNAPSHOT_TOUCH_WINDOW));
                in_transition || recently_touched
            }
            Err(e) => {
                warn!(region = %c.region, error = %e, "could not refresh the integration snapshot");
                true
            }
        };
        if !region.first_read_over.swap(true, Ordering::AcqRel) {
            region.first_read.notify_waiters();
        }
        if wakers.closed() {
            return;
        }
        let since_change = region
            .last_change
            .lock()
            .map_or(Duration::MAX, |at| at.elapsed());
        let next = refresh.next(started.into(), busy.then_some(since_change));
        let _ = tokio::time::timeout_at(next.unless_kicked, region.kick.notified()).await;
        tokio::time::sleep_until(next.earliest).await;
    }
}

/// When the next refresh starts, counted from the start of the last one.
#[derive(Debug, PartialEq, Eq)]
struct NextRefresh {
    /// Without a kick.
    unless_kicked: tokio::time::Instant,
    /// Never sooner, kicked or not.
    earliest: tokio::time::Instant,
}

impl Refresh {
    /// `busy`: how long ago the last change was, when something is in transition. Periods count from the
    /// start of a read, not its end: at 5,000 integrations a read is 50 pages, and counting from its end
    /// stretched the period by the read's length, and with it the time an integration that turned active
    /// waits to be seen. A kick (the operator just changed an integration) cuts a pause short, but refreshes
    /// never come closer than `fast`: a fleet of creates costs one paged read per fast period, not one per
    /// create (changed integrations are described directly until a newer snapshot exists).
    fn next(&self, started: tokio::time::Instant, busy: Option<Duration>) -> NextRefresh {
        let period = match busy {
            Some(since_change) => timing::a_tenth_of(
                since_change,
                self.fast,
                timing::SNAPSHOT_BUSY_MAX.min(self.slow),
            ),
            None => self.slow,
        };
        NextRefresh {
            unless_kicked: started + period,
            earliest: started + self.fast,
        }
    }
}

/// Every integration of the region, page by page; an integration equal to its entry in the current snapshot
/// comes back as that entry.
async fn read_all(c: &Clients, region: &Region) -> Result<Vec<Arc<AwsIntegration>>> {
    let mut out = Vec::new();
    let mut pages = c
        .rds
        .describe_integrations()
        .max_records(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("rds", "DescribeIntegrations", e))?;
        let current = region.snapshot.read();
        out.extend(
            page.integrations()
                .iter()
                .map(|i| reuse(current.as_ref(), aws_integration(i))),
        );
    }
    Ok(out)
}

/// `fresh` as `current`'s entry when that is equal: an integration that did not change costs no second copy.
fn reuse(current: Option<&Snapshot>, fresh: AwsIntegration) -> Arc<AwsIntegration> {
    current
        .and_then(|s| s.by_arn.get(&fresh.arn))
        .filter(|kept| ***kept == fresh)
        .cloned()
        .unwrap_or_else(|| Arc::new(fresh))
}

/// Installs the new snapshot and wakes the objects whose integration appeared, changed or disappeared.
/// Returns how many were woken.
fn publish(
    region: &Region,
    integrations: impl IntoIterator<Item = impl Into<Arc<AwsIntegration>>>,
    taken: Instant,
    wakers: &Wakers,
    cluster: &str,
) -> usize {
    let by_arn: Index<BY_ARN> = integrations.into_iter().map(Into::into).collect();
    let by_name = by_arn.values().cloned().collect();
    let mut changed: Vec<&Arc<AwsIntegration>> = Vec::new();
    let mut gone: Vec<Arc<AwsIntegration>> = Vec::new();
    {
        let previous = region.snapshot.read();
        match previous.as_ref() {
            Some(p) => {
                changed.extend(by_arn.values().filter(|i| p.by_arn.get(&i.arn) != Some(*i)));
                gone.extend(
                    p.by_arn
                        .values()
                        .filter(|i| !by_arn.contains_key(&i.arn))
                        .cloned(),
                );
            }
            // The first snapshot: everyone who already asked is woken to use it.
            None => changed.extend(by_arn.values()),
        }
    }
    let moved = !changed.is_empty() || !gone.is_empty();
    let mut wake: HashSet<ObjectRef<ZeroEtlIntegration>> = HashSet::new();
    {
        let interest = region.interest.lock();
        for i in changed.iter().copied().chain(gone.iter()) {
            for key in [&i.arn, &i.name] {
                if let Some(who) = interest.get(key) {
                    wake.extend(who.iter().cloned());
                }
            }
            if let Some(owner) = Owner::from_tags(&i.tags)
                .filter(|o| o.cluster == cluster && o.kind == "ZeroEtlIntegration")
            {
                wake.insert(ObjectRef::new(&owner.name).within(&owner.namespace));
            }
        }
    }
    *region.snapshot.write() = Some(Snapshot {
        taken,
        by_arn,
        by_name,
    });
    region.touched.lock().retain(|_, at| *at >= taken);
    if moved {
        *region.last_change.lock() = Some(Instant::now());
    }
    let woken = wake.len();
    for object in wake {
        wakers.wake(object);
    }
    woken
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A region whose wakes arrive on the returned receiver.
    fn region_with_waker() -> (
        Region,
        Wakers,
        mpsc::UnboundedReceiver<ObjectRef<ZeroEtlIntegration>>,
    ) {
        let (waker, woken) = mpsc::unbounded_channel();
        (
            Region::default(),
            Wakers(Arc::new(RwLock::new(vec![(None, waker)]))),
            woken,
        )
    }

    /// A refresh of this operator's (cluster "c1") region that read `integrations`; how many were woken.
    fn refresh(
        region: &Region,
        waker: &Wakers,
        integrations: impl IntoIterator<Item = impl Into<Arc<AwsIntegration>>>,
    ) -> usize {
        publish(region, integrations, Instant::now(), waker, "c1")
    }

    fn integration(name: &str, status: IntegrationStatus, owner: Option<&Owner>) -> AwsIntegration {
        AwsIntegration {
            arn: format!("arn:aws:rds:us-east-1:111111111111:integration:{name}"),
            name: name.into(),
            source_arn: String::new(),
            target_arn: "".into(),
            status,
            data_filter: None,
            description: None,
            tags: owner.map(|o| o.tags().into()).unwrap_or_default(),
            errors: Vec::new(),
            create_time: None,
        }
    }

    #[test]
    fn only_objects_whose_integration_changed_are_woken() {
        let (region, waker, mut woken) = region_with_waker();
        let owner = Owner {
            cluster: "c1".into(),
            kind: "ZeroEtlIntegration".into(),
            namespace: "team-a".into(),
            name: "orders".into(),
            uid: "u".into(),
        };
        let orders = integration("team-a-orders", IntegrationStatus::Creating, Some(&owner));
        let other = integration("billing", IntegrationStatus::Active, None);
        region.interested(
            ["billing"].into_iter(),
            ObjectRef::new("billing").within("team-b"),
        );
        assert_eq!(
            refresh(&region, &waker, vec![orders.clone(), other.clone()]),
            2,
            "the first snapshot wakes everyone involved"
        );
        while woken.try_recv().is_ok() {}

        // Nothing changed: nobody is woken.
        assert_eq!(
            refresh(&region, &waker, vec![orders.clone(), other.clone()]),
            0
        );

        // orders became active: only its owner is woken, found by its tags.
        let active = AwsIntegration {
            status: IntegrationStatus::Active,
            ..orders.clone()
        };
        assert_eq!(refresh(&region, &waker, vec![active, other.clone()]), 1);
        assert_eq!(
            woken.try_recv().unwrap(),
            ObjectRef::new("orders").within("team-a")
        );

        // billing disappeared: the object that looked it up by name is woken.
        assert_eq!(refresh(&region, &waker, Vec::<AwsIntegration>::new()), 2);
        let mut names: Vec<String> = std::iter::from_fn(|| woken.try_recv().ok())
            .map(|o| o.name)
            .collect();
        names.sort();
        assert_eq!(names, ["billing", "orders"]);
    }

    #[test]
    fn two_teams_integrations_into_one_warehouse_hold_its_arn_once_and_are_found_by_arn_and_name() {
        let (region, waker, _woken) = region_with_waker();
        let target = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/shared";
        let described = |name: &str| {
            aws_integration(
                &aws_sdk_rds::types::Integration::builder()
                    .integration_arn(format!(
                        "arn:aws:rds:us-east-1:111111111111:integration:{name}"
                    ))
                    .integration_name(name)
                    .source_arn(format!("arn:aws:rds:us-east-1:111111111111:cluster:{name}"))
                    .target_arn(target.to_string())
                    .data_filter("include: *.*")
                    .status(IntegrationStatus::Active)
                    .build(),
            )
        };
        let (team_a, team_b) = (described("team-a-orders"), described("team-b-orders"));
        refresh(&region, &waker, vec![team_a.clone(), team_b.clone()]);
        let current = region.snapshot.read();
        let snapshot = current.as_ref().unwrap();
        let (a, b) = (
            &snapshot.by_arn[&team_a.arn],
            &snapshot.by_name["team-b-orders"],
        );
        assert_eq!(
            (a.name.as_str(), b.arn.as_str()),
            ("team-a-orders", team_b.arn.as_str())
        );
        assert_eq!(
            a.target_arn.as_ptr(),
            b.target_arn.as_ptr(),
            "one copy of the target ARN"
        );
        assert_eq!(
            a.data_filter.as_deref().map(str::as_ptr),
            b.data_filter.as_deref().map(str::as_ptr)
        );
        assert!(
            snapshot.by_arn.get("team-b-orders").is_none(),
            "a name is not an ARN"
        );
    }

    #[test]
    fn a_tag_edited_by_hand_wakes_that_integrations_owner_and_not_the_other_tenant() {
        let (region, waker, mut woken) = region_with_waker();
        let owner = |namespace: &str| Owner {
            cluster: "c1".into(),
            kind: "ZeroEtlIntegration".into(),
            namespace: namespace.into(),
            name: "orders".into(),
            uid: format!("uid-{namespace}"),
        };
        let team_a = integration(
            "team-a-orders",
            IntegrationStatus::Active,
            Some(&owner("team-a")),
        );
        let team_b = integration(
            "team-b-orders",
            IntegrationStatus::Active,
            Some(&owner("team-b")),
        );
        refresh(&region, &waker, vec![team_a.clone(), team_b.clone()]);
        while woken.try_recv().is_ok() {}

        // Someone adds a tag to team B's integration in the console.
        let edited = AwsIntegration {
            tags: team_b
                .tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .chain([("cost-center".to_string(), "42".to_string())])
                .collect(),
            ..team_b.clone()
        };
        assert_eq!(refresh(&region, &waker, vec![team_a.clone(), edited]), 1);
        assert_eq!(
            woken.try_recv().unwrap(),
            ObjectRef::new("orders").within("team-b")
        );
    }

    #[test]
    fn a_released_object_is_forgotten_and_a_second_tenant_asking_the_same_key_is_still_woken() {
        let (region, waker, mut woken) = region_with_waker();
        let team_a = ObjectRef::new("orders").within("team-a");
        let team_b = ObjectRef::new("orders").within("team-b");
        // Both looked up "shared" (say, a name someone made by hand); each also its own name.
        for (who, own) in [(&team_a, "team-a-orders"), (&team_b, "team-b-orders")] {
            region.interested([own, "shared"].into_iter(), who.clone());
        }
        let shared = integration("shared", IntegrationStatus::Creating, None);
        refresh(&region, &waker, vec![shared.clone()]);
        while woken.try_recv().is_ok() {}

        region.forget(&team_a, &["team-a-orders", "shared"]);
        let keys: HashSet<String> = region.interest.lock().keys().cloned().collect();
        assert_eq!(
            keys,
            HashSet::from(["team-b-orders".to_string(), "shared".to_string()]),
            "team-a's own key goes; the shared one stays for team-b"
        );
        let active = AwsIntegration {
            status: IntegrationStatus::Active,
            ..shared
        };
        assert_eq!(refresh(&region, &waker, vec![active]), 1);
        assert_eq!(woken.try_recv().unwrap(), team_b);
    }

    #[test]
    fn a_refresh_keeps_the_entries_of_unchanged_integrations_and_replaces_a_hand_edited_one() {
        let (region, waker, _woken) = region_with_waker();
        let team_a = integration("team-a-orders", IntegrationStatus::Active, None);
        let team_b = integration("team-b-billing", IntegrationStatus::Active, None);
        refresh(&region, &waker, vec![team_a.clone(), team_b.clone()]);
        // Someone edits team B's integration in AWS; team A's is read back unchanged.
        let edited = AwsIntegration {
            description: Some("edited by hand".into()),
            ..team_b
        };
        let (kept, replaced) = {
            let current = region.snapshot.read();
            let kept = reuse(current.as_ref(), team_a.clone());
            let replaced = reuse(current.as_ref(), edited.clone());
            let snapshot = current.as_ref().unwrap();
            assert!(Arc::ptr_eq(&kept, &snapshot.by_arn[&team_a.arn]));
            assert!(!Arc::ptr_eq(&replaced, &snapshot.by_arn[&edited.arn]));
            (kept, replaced)
        };
        assert_eq!(*replaced, edited);
        refresh(&region, &waker, vec![kept, replaced]);
        let current = region.snapshot.read();
        let snapshot = current.as_ref().unwrap();
        assert!(
            Arc::ptr_eq(
                &snapshot.by_name["team-b-billing"],
                &snapshot.by_arn[&edited.arn]
            ),
            "by name and by ARN share one entry"
        );
        assert_eq!(
            snapshot.by_name["team-b-billing"].description,
            edited.description
        );
    }

    #[test]
    fn an_object_found_by_its_arn_is_woken_by_that_alone_and_another_tenant_keeps_the_name() {
        let (region, waker, mut woken) = region_with_waker();
        let too_old = Duration::from_secs(600);
        let ours = integration("orders", IntegrationStatus::Active, None);
        let team_a = ObjectRef::new("orders").within("team-a");
        let team_b = ObjectRef::new("orders").within("team-b");
        refresh(&region, &waker, vec![ours.clone()]);
        // Before its ARN is stored, team A looks up by name; team B (no ARN) asks the same name.
        assert_eq!(
            region.lookup(None, "orders", team_a.clone(), too_old),
            Some(Some(ours.clone()))
        );
        region.lookup(None, "orders", team_b.clone(), too_old);
        // With its ARN stored, team A is found by it and leaves the name to team B.
        assert_eq!(
            region.lookup(Some(&ours.arn), "orders", team_a.clone(), too_old),
            Some(Some(ours.clone()))
        );
        {
            let interest = region.interest.lock();
            assert_eq!(interest[&ours.arn], std::slice::from_ref(&team_a));
            assert_eq!(interest["orders"], std::slice::from_ref(&team_b));
        }
        // The integration changes: both are still woken, A by the ARN, B by the name.
        while woken.try_recv().is_ok() {}
        let modifying = AwsIntegration {
            status: IntegrationStatus::Modifying,
            ..ours.clone()
        };
        assert_eq!(refresh(&region, &waker, vec![modifying]), 2);
        // An ARN the snapshot does not hold (deleted by hand): the name counts again.
        region.lookup(Some("arn:gone"), "orders", team_a.clone(), too_old);
        assert!(region.interest.lock()["orders"].contains(&team_a));
    }

    #[test]
    fn an_object_is_recorded_once_per_key_without_its_version() {
        let region = Region::default();
        let mut orders = ObjectRef::new("orders").within("team-a");
        orders.extra.resource_version = Some("1".into());
        region.interested(["team-a-orders"].into_iter(), orders.clone());
        orders.extra.resource_version = Some("2".into());
        region.interested(["team-a-orders"].into_iter(), orders.clone());
        region.interested(
            ["team-a-orders"].into_iter(),
            ObjectRef::new("orders").within("team-b"),
        );
        let interest = region.interest.lock();
        let who = &interest["team-a-orders"];
        assert_eq!(who.len(), 2, "one entry per tenant's object: {who:?}");
        assert!(who.iter().all(|o| o.extra.resource_version.is_none()));
    }

    #[test]
    fn tags_of_another_cluster_do_not_wake_anyone_here() {
        let (region, waker, mut woken) = region_with_waker();
        let elsewhere = Owner {
            cluster: "c2".into(),
            kind: "ZeroEtlIntegration".into(),
            namespace: "team-a".into(),
            name: "orders".into(),
            uid: "u".into(),
        };
        refresh(
            &region,
            &waker,
            vec![integration(
                "x",
                IntegrationStatus::Active,
                Some(&elsewhere),
            )],
        );
        assert!(woken.try_recv().is_err());
    }

    #[test]
    fn a_hand_edit_in_aws_counts_as_a_change_and_an_unchanged_refresh_does_not() {
        let (region, waker, _woken) = region_with_waker();
        let tenants = |billing: IntegrationStatus| {
            vec![
                integration("team-a-orders", IntegrationStatus::Active, None),
                integration("team-b-billing", billing, None),
            ]
        };
        refresh(&region, &waker, tenants(IntegrationStatus::Active));
        let first = region
            .last_change
            .lock()
            .expect("the first snapshot is a change");
        refresh(&region, &waker, tenants(IntegrationStatus::Active));
        assert_eq!(*region.last_change.lock(), Some(first), "nothing moved");
        // Someone modifies team B's integration by hand: the poller speeds up again.
        refresh(&region, &waker, tenants(IntegrationStatus::Modifying));
        assert!(region.last_change.lock().is_some_and(|at| at > first));
    }

    #[test]
    fn refresh_periods_count_from_the_start_of_a_read_and_slow_down_while_nothing_changes() {
        let refresh = Refresh {
            fast: Duration::from_millis(500),
            slow: Duration::from_secs(300),
        };
        let started = tokio::time::Instant::now();
        let just_changed = refresh.next(started, Some(Duration::from_secs(1)));
        assert_eq!(just_changed.unless_kicked, started + refresh.fast);
        assert_eq!(just_changed.earliest, started + refresh.fast);
        // A creation AWS has been at for ten minutes: a read a minute, not one every half second.
        let long_wait = refresh.next(started, Some(Duration::from_secs(600)));
        assert_eq!(long_wait.unless_kicked, started + Duration::from_secs(60));
        assert_eq!(long_wait.earliest, started + refresh.fast);
        let idle = refresh.next(started, None);
        assert_eq!(idle.unless_kicked, started + Duration::from_secs(300));
        assert_eq!(idle.earliest, started + refresh.fast);
        // A slow refresh shorter than the busy maximum is never exceeded while busy.
        let short_slow = Refresh {
            slow: Duration::from_secs(20),
            ..refresh
        };
        assert_eq!(
            short_slow
                .next(started, Some(Duration::from_secs(3600)))
                .unless_kicked,
            started + Duration::from_secs(20)
        );
    }

    #[tokio::test]
    async fn a_burst_of_changes_costs_one_refresh_per_fast_period_not_one_each() {
        let sim = crate::testing::sample_sim().await;
        let clients = crate::testing::operator_clients(&sim).await;
        let snapshots = Snapshots::default();
        let (waker, _woken) = mpsc::unbounded_channel();
        let fast = Duration::from_millis(200);
        snapshots.connect(
            None,
            waker,
            "c1",
            Refresh {
                fast,
                slow: Duration::from_secs(600),
            },
            Arc::new(Metrics::new(
                &mut prometheus_client::registry::Registry::default(),
            )),
        );
        // The first look starts the poller; then 100 creates (two tenants) land within a second.
        let object = |ns: &str, i: usize| ObjectRef::new(&format!("orders-{i}")).within(ns);
        snapshots
            .find(&clients, None, "orders-0", object("team-a", 0), false)
            .await;
        let started = Instant::now();
        for i in 0..100 {
            let name = format!("orders-{i}");
            snapshots.touched(&clients, &[name.as_str()]);
            snapshots
                .find(
                    &clients,
                    None,
                    &name,
                    object(if i % 2 == 0 { "team-a" } else { "team-b" }, i),
                    false,
                )
                .await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elapsed = started.elapsed();
        let refreshes = sim
            .counts()
            .get("rds:DescribeIntegrations")
            .copied()
            .unwrap_or(0);
        let allowed = 2 + (elapsed.as_millis() / fast.as_millis()) as u64;
        assert!(
            (1..=allowed).contains(&refreshes),
            "{refreshes} refreshes in {elapsed:?} of 100 changes; at most {allowed} (one per {fast:?})"
        );
    }
}
