//! `observe`: reads only. Batched by VPC selector so that one VPC costs a handful of calls
//! and many VPCs cost calls per page, not per VPC. Results are split per VPC in memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::account::{Account, ServiceOffer, VpcSelector};
use crate::config::ServiceAzs;
use crate::error::{ErrorClass, Result};
use crate::guard::Guard;
use crate::model::{Domain, Hints, Notebook, Observation};

/// `DescribeNotebookInstance` calls in flight at once during a sweep.
const NOTEBOOK_DESCRIBES_IN_FLIGHT: usize = 8;

impl<A: Account> Guard<A> {
    /// Observes the selected VPCs that exist; ids that name no VPC are simply absent.
    /// Notebooks are read only when `with_notebooks` (a subnet event does without them).
    /// DNS attributes are left unread: they cost two calls per VPC and are read only for
    /// VPCs in scope ([`Guard::read_dns`]).
    pub async fn observe(
        &self,
        selector: &VpcSelector,
        with_notebooks: bool,
        pinned: Option<&Notebook>,
    ) -> Result<Vec<Observation>> {
        self.observe_pinned(selector, with_notebooks, pinned.map(std::slice::from_ref).unwrap_or_default()).await
    }

    /// [`Guard::observe`] with the notebooks of the events being handled, which the listing
    /// may not show yet.
    pub(crate) async fn observe_pinned(
        &self,
        selector: &VpcSelector,
        with_notebooks: bool,
        pinned: &[Notebook],
    ) -> Result<Vec<Observation>> {
        let identity = self.identity().await?;
        let vpcs = self.account().describe_vpcs(selector).await?;
        if vpcs.is_empty() {
            return Ok(Vec::new());
        }
        let offers = self.services(&identity.region).await?;
        let service_azs: ServiceAzs = offers.iter().map(|(name, offer)| (name.clone(), offer.azs.clone())).collect();
        let services = self.config().service_names(&identity.region, &service_azs);
        let subnets = self.account().describe_subnets(selector).await?;
        let endpoints = self.account().describe_endpoints(selector, &services).await?;
        let groups = self.account().managed_groups(selector).await?;
        let service_dns: BTreeMap<String, String> = offers
            .iter()
            .filter_map(|(name, offer)| offer.private_dns_name.clone().map(|dns| (name.clone(), dns)))
            .collect();
        let notebooks = match with_notebooks {
            true => Some(self.notebooks(pinned).await?),
            false => None,
        };
        let domains = match with_notebooks && self.config().studio() {
            true => Some(self.domains().await?),
            false => None,
        };
        let vpc_of_subnet: HashMap<&str, &str> = subnets.iter().map(|s| (s.id.as_str(), s.vpc_id.as_str())).collect();
        let mut notebooks_by_vpc: HashMap<String, Vec<Notebook>> = HashMap::new();
        for notebook in notebooks.iter().flatten() {
            if let Some(vpc) = notebook.subnet_id.as_deref().and_then(|s| vpc_of_subnet.get(s)) {
                notebooks_by_vpc.entry(vpc.to_string()).or_default().push(notebook.clone());
            }
        }
        drop(vpc_of_subnet);
        let mut subnets_by_vpc: HashMap<String, Vec<_>> = HashMap::new();
        for subnet in subnets {
            subnets_by_vpc.entry(subnet.vpc_id.clone()).or_default().push(subnet);
        }
        let mut endpoints_by_vpc: HashMap<String, Vec<_>> = HashMap::new();
        for endpoint in endpoints {
            endpoints_by_vpc.entry(endpoint.vpc_id.clone()).or_default().push(endpoint);
        }
        let mut groups_by_vpc: HashMap<String, _> = groups.into_iter().map(|g| (g.vpc_id.clone(), g)).collect();
        let observations = vpcs
            .into_iter()
            .map(|vpc| Observation {
                identity: identity.clone(),
                subnets: subnets_by_vpc.remove(&vpc.id).unwrap_or_default(),
                endpoints: endpoints_by_vpc.remove(&vpc.id).unwrap_or_default(),
                group: groups_by_vpc.remove(&vpc.id),
                notebooks: notebooks.as_ref().map(|_| notebooks_by_vpc.remove(&vpc.id).unwrap_or_default()),
                domains: domains.as_ref().map(|all| all.iter().filter(|d| d.vpc_id == vpc.id).cloned().collect()),
                s3: None,
                service_azs: service_azs.clone(),
                service_dns: service_dns.clone(),
                hosted_zones: None,
                route53_profiles_unread: None,
                hints: Hints::default(),
                vpc,
            })
            .collect();
        Ok(observations)
    }

    /// Reads the VPC's DNS attributes into the observation.
    pub async fn read_dns(&self, obs: &mut Observation) -> Result<()> {
        obs.vpc.dns = Some(self.account().vpc_dns(&obs.vpc.id).await?);
        Ok(())
    }

    /// Reads the notebooks of the observed VPC into the observation, and its Studio domains
    /// when the studio profile is on and they are not read yet.
    pub async fn read_notebooks(&self, obs: &mut Observation, pinned: &[Notebook]) -> Result<()> {
        let subnets: BTreeSet<&str> = obs.subnets.iter().map(|s| s.id.as_str()).collect();
        let all = self.notebooks(pinned).await?;
        let mine = all.into_iter().filter(|n| n.subnet_id.as_deref().is_some_and(|s| subnets.contains(s)));
        obs.notebooks = Some(mine.collect());
        if obs.domains.is_none() && self.config().studio() {
            let domains = self.domains().await?;
            obs.domains = Some(domains.into_iter().filter(|d| d.vpc_id == obs.vpc.id).collect());
        }
        Ok(())
    }

    /// Every Studio domain of the region that is not being deleted. A domain is described once
    /// per process and again only when `ListDomains` shows it modified since.
    async fn domains(&self) -> Result<Vec<Domain>> {
        let summaries = self.account().list_domains().await?;
        let listed: BTreeSet<&str> = summaries.iter().map(|s| s.arn.as_str()).collect();
        self.domains_cache.lock().expect("domain cache").retain(|arn, _| listed.contains(arn.as_str()));
        let mut domains = Vec::new();
        for summary in summaries.iter().filter(|s| !s.status.to_ascii_lowercase().starts_with("delet")) {
            let cached = self.domains_cache.lock().expect("domain cache").get(&summary.arn).cloned();
            let domain = match cached {
                Some(domain) if domain.modified == summary.modified => domain,
                _ => match self.account().describe_domain(&summary.id).await? {
                    Some(described) => {
                        self.remember_domain(&described);
                        described
                    }
                    None => continue,
                },
            };
            domains.push(domain);
        }
        Ok(domains)
    }

    pub(crate) fn remember_domain(&self, domain: &Domain) {
        self.domains_cache.lock().expect("domain cache").insert(domain.arn.clone(), domain.clone());
    }

    /// The endpoint services of `region` vpce-guard may manage, as `DescribeVpcEndpointServices`
    /// names them in this partition, with their AZs and private DNS names: read once per
    /// process, by pattern ([`crate::config::Config::service_queries`]).
    async fn services(&self, region: &str) -> Result<BTreeMap<String, ServiceOffer>> {
        let cached = self.services_cache.lock().expect("service cache").clone();
        if let Some(offers) = cached {
            return Ok(offers);
        }
        let offers = self.account().services(&self.config().service_queries(region)).await?;
        *self.services_cache.lock().expect("service cache") = Some(offers.clone());
        Ok(offers)
    }

    /// Reads the VPC's route tables and S3 endpoints into the observation.
    pub async fn read_s3(&self, obs: &mut Observation) -> Result<()> {
        let service = crate::config::s3_service(&obs.identity.region);
        obs.s3 = Some(self.account().s3_view(&obs.vpc.id, &service).await?);
        Ok(())
    }

    /// Reads the private hosted zones associated with the observed VPC into the observation:
    /// those associated directly (`ListHostedZonesByVPC`) and those of its Route 53 Profile,
    /// which `ListHostedZonesByVPC` does not list. When the Profiles API refuses (a role
    /// without its permissions, an SCP) or cannot be reached (not offered in the region), the
    /// run goes on with the direct zones and `route53_profiles_unread` says why; throttling
    /// and server faults that outlast the retries fail the run as any read does, rather than
    /// risk a local endpoint shadowing a hub's.
    pub async fn read_hosted_zones(&self, obs: &mut Observation) -> Result<()> {
        let mut zones = self.account().hosted_zones(&obs.vpc.id).await?;
        match self.account().profile_zones(&obs.vpc.id).await {
            Ok(shared) => zones.extend(shared),
            Err(error) if error.class() == ErrorClass::Permanent || error.aws_code() == Some("Unreachable") => {
                tracing::warn!(vpc = %obs.vpc.id, error = %error, "the zones of the VPC's Route 53 Profile are unread");
                obs.route53_profiles_unread = Some(error.to_string());
            }
            Err(error) => return Err(error),
        }
        obs.hosted_zones = Some(zones);
        Ok(())
    }

    /// Every notebook instance of the region that is not being deleted, with its subnet,
    /// plus `pinned` (the events' notebooks, which the list may not show yet).
    /// A notebook's subnet and direct internet access never change (SageMaker offers no update
    /// of either), so it is described once per process.
    async fn notebooks(&self, pinned: &[Notebook]) -> Result<Vec<Notebook>> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let summaries = self.account().list_notebooks().await?;
        // Forget notebooks that are gone, so the cache only ever holds listed ones.
        let listed: BTreeSet<&str> = summaries.iter().map(|s| s.arn.as_str()).collect();
        self.notebook_subnets.lock().expect("notebook cache").retain(|arn, _| listed.contains(arn.as_str()));
        let live = summaries.into_iter().filter(|s| !s.status.eq_ignore_ascii_case("Deleting"));
        let mut notebooks: Vec<Notebook> = stream::iter(live)
            .map(|summary| async move {
                // A notebook deleted and re-created with the same name keeps its ARN: the
                // cached subnet counts only for the same creation time.
                let cached = self.notebook_subnets.lock().expect("notebook cache").get(&summary.arn).cloned();
                let (subnet_id, direct_internet_access) = match cached {
                    Some((created, subnet, internet)) if created == summary.created => (subnet, internet),
                    _ => match self.account().describe_notebook(&summary.name).await? {
                        Some(described) => {
                            self.remember_notebook(&described);
                            (described.subnet_id, described.direct_internet_access)
                        }
                        None => return Ok(None),
                    },
                };
                Ok::<_, crate::error::Error>(Some(Notebook {
                    name: summary.name,
                    arn: summary.arn,
                    subnet_id,
                    status: summary.status,
                    direct_internet_access,
                    created: summary.created,
                }))
            })
            .buffer_unordered(NOTEBOOK_DESCRIBES_IN_FLIGHT)
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await?;
        notebooks.sort_by(|a, b| a.arn.cmp(&b.arn));
        for pinned in pinned {
            if !notebooks.iter().any(|n| n.arn == pinned.arn) {
                notebooks.push(pinned.clone());
            }
        }
        Ok(notebooks)
    }

    pub(crate) fn remember_notebook(&self, notebook: &Notebook) {
        self.notebook_subnets.lock().expect("notebook cache").insert(
            notebook.arn.clone(),
            (notebook.created, notebook.subnet_id.clone(), notebook.direct_internet_access),
        );
    }
}

/// The ids `selector` names that `observations` lack: VPCs that do not exist (any more).
pub(crate) fn missing_vpcs(selector: &VpcSelector, observations: &[Observation]) -> Vec<String> {
    let VpcSelector::Ids(ids) = selector else { return Vec::new() };
    let found: BTreeSet<&str> = observations.iter().map(|o| o.vpc.id.as_str()).collect();
    ids.iter().filter(|id| !found.contains(id.as_str())).cloned().collect()
}
