//! `apply`: executes a plan's writes in order. Every write is safe to repeat: creates carry
//! deterministic client tokens, "already exists" and "duplicate rule" count as success.
//! Conflicts (another writer got there first, AWS's one-subnet-per-AZ or private-DNS rules)
//! stop the round so that the caller observes again and re-plans.

use tracing::info;

use crate::account::{Account, DnsAttribute, EndpointChange, NewEndpoint, VpcSelector};
use crate::error::{Error, Result};
use crate::model::{Hints, Observation, Tags, MANAGED_GROUP_NAME, TAG_IDLE_SINCE, TAG_MANAGED, TAG_PRIVATE_DNS};
use crate::plan::{Doomed, GroupRef, Plan, Write};
use crate::report::Action;

/// Description of the managed security group.
pub const GROUP_DESCRIPTION: &str = "vpce-guard: HTTPS from the VPC to its SageMaker interface endpoints";

/// How a round of writes ended.
#[derive(Debug)]
pub enum Applied {
    /// Every write went through.
    Done(Vec<Action>),
    /// The deadline came before every write was made; these were.
    Deferred(Vec<Action>),
    /// AWS still throttled a write when its retries ran out; these writes were made before.
    Throttled {
        /// Writes made before the throttled one.
        actions: Vec<Action>,
        /// AWS's last answer.
        error: Error,
    },
    /// A write met a conflict: observe again (with `hints`) and re-plan.
    Conflict {
        /// Writes made before the conflict.
        actions: Vec<Action>,
        /// What AWS's answer taught.
        hints: Hints,
        /// AWS's error, for the log.
        reason: String,
    },
}

/// The actions a plan would take, for dry runs.
pub fn planned_actions(plan: &Plan) -> Vec<Action> {
    let group_id = |group: &GroupRef| match group {
        GroupRef::Existing(id) => Some(id.clone()),
        GroupRef::Planned => None,
    };
    let mut actions = Vec::new();
    for write in &plan.writes {
        match write {
            Write::EnableDnsSupport => actions.push(Action::EnableDnsSupport { vpc_id: plan.vpc_id.clone() }),
            Write::EnableDnsHostnames => actions.push(Action::EnableDnsHostnames { vpc_id: plan.vpc_id.clone() }),
            Write::CreateGroup => {
                actions.push(Action::CreateSecurityGroup { group_id: None, group_name: MANAGED_GROUP_NAME.into() })
            }
            Write::AuthorizeHttps { group, sources } => {
                actions.push(Action::AuthorizeHttps { group_id: group_id(group), cidrs: sources.clone() })
            }
            Write::RevokeHttps { group_id, sources } => {
                actions.push(Action::RevokeHttps { group_id: group_id.clone(), cidrs: sources.clone() })
            }
            Write::CreateEndpoint { service, subnet_ids, private_dns, .. } => actions.push(Action::CreateEndpoint {
                service: service.clone(),
                endpoint_id: None,
                subnet_ids: subnet_ids.clone(),
                private_dns: *private_dns,
            }),
            Write::S3Gateway { endpoint_id, route_table_ids, .. } => actions.push(Action::S3Gateway {
                endpoint_id: endpoint_id.clone(),
                extended: endpoint_id.is_some(),
                route_table_ids: route_table_ids.clone(),
            }),
            Write::ModifyEndpoint { endpoint_id, add_subnet_ids, add_group, policy, enable_private_dns, .. } => {
                actions.extend(modify_actions(
                    endpoint_id,
                    add_subnet_ids,
                    add_group.as_ref().map(group_id),
                    policy.is_some(),
                    *enable_private_dns,
                ));
            }
            Write::DeleteEndpoints { endpoints } => actions.extend(endpoints.iter().map(deleted)),
            Write::DeleteGroup { group_id } => actions.push(Action::DeleteSecurityGroup { group_id: group_id.clone() }),
            Write::MarkIdle { endpoint_ids, since } => {
                actions.push(Action::MarkIdle { endpoint_ids: endpoint_ids.clone(), since: since.clone() })
            }
            Write::UnmarkIdle { endpoint_ids } => {
                actions.push(Action::UnmarkIdle { endpoint_ids: endpoint_ids.clone() })
            }
        }
    }
    actions
}

/// The action of deleting `doomed`.
fn deleted(doomed: &Doomed) -> Action {
    Action::DeleteEndpoint {
        endpoint_id: doomed.endpoint_id.clone(),
        service: doomed.service.clone(),
        azs: doomed.azs,
        monthly_usd: doomed.monthly_usd,
    }
}

fn modify_actions(
    endpoint_id: &str,
    add_subnet_ids: &[String],
    add_group: Option<Option<String>>,
    policy: bool,
    private_dns: bool,
) -> Vec<Action> {
    let endpoint_id = endpoint_id.to_string();
    let mut actions = Vec::new();
    if !add_subnet_ids.is_empty() {
        actions.push(Action::AddSubnets { endpoint_id: endpoint_id.clone(), subnet_ids: add_subnet_ids.to_vec() });
    }
    if let Some(group_id) = add_group {
        actions.push(Action::AddSecurityGroup { endpoint_id: endpoint_id.clone(), group_id });
    }
    if policy {
        actions.push(Action::SetPolicy { endpoint_id: endpoint_id.clone() });
    }
    if private_dns {
        actions.push(Action::EnablePrivateDns { endpoint_id });
    }
    actions
}

/// What a failed write means for the round.
enum Failure {
    /// Re-observe and re-plan, learning `hints`.
    Conflict(Hints),
    /// Give up on the invocation.
    Fatal,
}

fn classify(error: &Error, service: Option<&str>) -> Failure {
    let code = error.aws_code().unwrap_or_default();
    let message = error.aws_message().unwrap_or_default();
    let mut hints = Hints::default();
    if message.contains("conflicting DNS domain") {
        if let Some(service) = service {
            hints.dns_conflicts.insert(service.to_string());
        }
        return Failure::Conflict(hints);
    }
    match code {
        "IdempotentParameterMismatch" | "DuplicateSubnetsInSameZone" | "IncorrectState" => Failure::Conflict(hints),
        code if code.ends_with(".NotFound") => Failure::Conflict(hints),
        _ => Failure::Fatal,
    }
}

fn managed_tags(name: &str) -> Tags {
    Tags::from([(TAG_MANAGED.to_string(), "true".to_string()), ("Name".to_string(), name.to_string())])
}

/// Executes `plan` against `account`, starting no write after `window.stop_by` and cutting a
/// write still in flight at `window.cut_at`.
pub async fn apply<A: Account>(
    account: &A,
    obs: &Observation,
    plan: &Plan,
    window: Option<WriteWindow>,
) -> Result<Applied> {
    let vpc_id = obs.vpc.id.as_str();
    let mut actions = Vec::new();
    let mut created_group: Option<String> = None;
    for write in &plan.writes {
        if window.is_some_and(|w| std::time::Instant::now() >= w.stop_by) {
            return Ok(Applied::Deferred(actions));
        }
        let attempt = write_one(account, vpc_id, write, &mut created_group);
        let outcome = match window {
            Some(w) => match tokio::time::timeout_at(w.cut_at.into(), attempt).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    // Lambda ends the process at its deadline: give the write up first, so that
                    // the run still answers. AWS may have carried it out; the next run observes
                    // the account and finishes (creates are idempotent by their tokens).
                    tracing::warn!(vpc = vpc_id, write = ?write, "write still in flight at the deadline; given up");
                    return Ok(Applied::Deferred(actions));
                }
            },
            None => attempt.await,
        };
        let outcome = match outcome {
            Ok(Wrote::Actions(done)) => Ok(done),
            Ok(Wrote::HandedBack(reason, endpoint_id)) => {
                let mut hints = Hints::default();
                hints.stale_endpoint_ids.insert(endpoint_id);
                return Ok(Applied::Conflict { actions, hints, reason });
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(done) => actions.extend(done),
            Err(error) => {
                let service = match write {
                    Write::CreateEndpoint { service, .. } | Write::ModifyEndpoint { service, .. } => {
                        Some(service.as_str())
                    }
                    _ => None,
                };
                if error.is_throttled() {
                    return Ok(Applied::Throttled { actions, error });
                }
                match classify(&error, service) {
                    Failure::Conflict(mut hints) => {
                        // EC2 keeps a token for a while after its endpoint is gone, and refuses
                        // it with other parameters: salt the next token so the next round creates.
                        if let Write::CreateEndpoint { client_token, .. } | Write::S3Gateway { client_token, .. } =
                            write
                        {
                            if error.aws_code() == Some("IdempotentParameterMismatch") {
                                hints.stale_endpoint_ids.insert(client_token.clone());
                            }
                        }
                        return Ok(Applied::Conflict { actions, hints, reason: error.to_string() });
                    }
                    Failure::Fatal => return Err(error),
                }
            }
        }
    }
    Ok(Applied::Done(actions))
}

/// When a round may write: no write starts at or after `stop_by` (the deadline less the
/// margin), and one still in flight at `cut_at` (just before the deadline) is given up.
#[derive(Debug, Clone, Copy)]
pub struct WriteWindow {
    /// No write starts from here on.
    pub stop_by: std::time::Instant,
    /// A write still in flight here is given up.
    pub cut_at: std::time::Instant,
}

/// One write's result, before the round decides what it means.
enum Wrote {
    /// Made: what was done.
    Actions(Vec<Action>),
    /// A create whose token EC2 answered with an endpoint that is gone: why, and its id.
    HandedBack(String, String),
}

/// Makes one write of the plan.
async fn write_one<A: Account>(
    account: &A,
    vpc_id: &str,
    write: &Write,
    created_group: &mut Option<String>,
) -> Result<Wrote> {
    let resolve = |group: &GroupRef, created: &Option<String>| -> String {
        match group {
            GroupRef::Existing(id) => id.clone(),
            GroupRef::Planned => created.clone().unwrap_or_default(),
        }
    };
    let done: Result<Vec<Action>> = match write {
        Write::EnableDnsSupport => account
            .enable_vpc_dns(vpc_id, DnsAttribute::Support)
            .await
            .map(|()| vec![Action::EnableDnsSupport { vpc_id: vpc_id.into() }]),
        Write::EnableDnsHostnames => account
            .enable_vpc_dns(vpc_id, DnsAttribute::Hostnames)
            .await
            .map(|()| vec![Action::EnableDnsHostnames { vpc_id: vpc_id.into() }]),
        Write::CreateGroup => match create_group(account, vpc_id).await {
            Ok(id) => {
                *created_group = Some(id.clone());
                Ok(vec![Action::CreateSecurityGroup { group_id: Some(id), group_name: MANAGED_GROUP_NAME.into() }])
            }
            Err(error) => Err(error),
        },
        Write::AuthorizeHttps { group, sources } => {
            let group_id = resolve(group, created_group);
            authorize(account, &group_id, sources)
                .await
                .map(|()| vec![Action::AuthorizeHttps { group_id: Some(group_id), cidrs: sources.clone() }])
        }
        Write::RevokeHttps { group_id, sources } => revoke(account, group_id, sources)
            .await
            .map(|()| vec![Action::RevokeHttps { group_id: group_id.clone(), cidrs: sources.clone() }]),
        Write::CreateEndpoint { service, subnet_ids, group, policy, private_dns, client_token, dns_conflict } => {
            let mut tags = managed_tags(&format!("vpce-guard {service}"));
            if *dns_conflict {
                tags.insert(TAG_PRIVATE_DNS.to_string(), "conflict".to_string());
            }
            let request = NewEndpoint {
                vpc_id: vpc_id.into(),
                service: service.clone(),
                subnet_ids: subnet_ids.clone(),
                group_ids: vec![resolve(group, created_group)],
                policy: policy.clone(),
                private_dns: *private_dns,
                client_token: client_token.clone(),
                tags,
            };
            match account.create_endpoint(&request).await {
                Ok(endpoint) if !endpoint.state.is_live() => {
                    return Ok(Wrote::HandedBack(handed_back_reason(client_token, &endpoint.id, endpoint.state.as_str()), endpoint.id));
                }
                Ok(endpoint) => {
                    info!(vpc = vpc_id, service = %service, endpoint = %endpoint.id, "created endpoint");
                    Ok(vec![Action::CreateEndpoint {
                        service: service.clone(),
                        endpoint_id: Some(endpoint.id),
                        subnet_ids: subnet_ids.clone(),
                        private_dns: *private_dns,
                    }])
                }
                Err(error) => Err(error),
            }
        }
        Write::ModifyEndpoint { endpoint_id, add_subnet_ids, add_group, policy, enable_private_dns, .. } => {
            let group_id = add_group.as_ref().map(|g| resolve(g, created_group));
            let change = EndpointChange {
                endpoint_id: endpoint_id.clone(),
                add_subnet_ids: add_subnet_ids.clone(),
                add_group_ids: group_id.iter().cloned().collect(),
                policy: policy.clone(),
                private_dns: enable_private_dns.then_some(true),
            };
            account.modify_endpoint(&change).await.map(|()| {
                info!(vpc = vpc_id, endpoint = %endpoint_id, subnets = add_subnet_ids.len(), "modified endpoint");
                modify_actions(
                    endpoint_id,
                    add_subnet_ids,
                    group_id.map(Some),
                    policy.is_some(),
                    *enable_private_dns,
                )
            })
        }
        Write::DeleteEndpoints { endpoints } => {
            let ids: Vec<String> = endpoints.iter().map(|d| d.endpoint_id.clone()).collect();
            match account.delete_endpoints(&ids).await {
                Ok(unsuccessful) => {
                    // An endpoint gone already (deleted by someone else since) is as wanted.
                    let failed: Vec<&(String, String)> =
                        unsuccessful.iter().filter(|(_, why)| !why.contains(".NotFound")).collect();
                    if let Some((id, why)) = failed.first() {
                        let (code, message) = why.split_once(": ").unwrap_or((why.as_str(), ""));
                        return Err(Error::Aws {
                            operation: "DeleteVpcEndpoints",
                            code: code.to_string(),
                            message: format!("{id}: {message}"),
                            class: crate::error::ErrorClass::Permanent,
                        });
                    }
                    let gone: Vec<&str> = unsuccessful.iter().map(|(id, _)| id.as_str()).collect();
                    info!(vpc = vpc_id, endpoints = ?ids, "deleted idle endpoints");
                    Ok(endpoints.iter().filter(|d| !gone.contains(&d.endpoint_id.as_str())).map(deleted).collect())
                }
                Err(error) => Err(error),
            }
        }
        Write::DeleteGroup { group_id } => match account.delete_group(group_id).await {
            Ok(()) => {
                info!(vpc = vpc_id, group = %group_id, "deleted the managed security group");
                Ok(vec![Action::DeleteSecurityGroup { group_id: group_id.clone() }])
            }
            // Network interfaces of the endpoints just deleted still use it while they are
            // `deleting` (EC2 API reference, DeleteSecurityGroup: DependencyViolation); a later
            // sweep deletes it. One gone already is as wanted.
            Err(error) if matches!(error.aws_code(), Some("DependencyViolation" | "InvalidGroup.NotFound")) => {
                info!(vpc = vpc_id, group = %group_id, why = %error, "managed security group left for a later sweep");
                Ok(Vec::new())
            }
            Err(error) => Err(error),
        },
        Write::MarkIdle { endpoint_ids, since } => {
            let mark = Tags::from([(TAG_IDLE_SINCE.to_string(), since.clone())]);
            account
                .tag_endpoints(endpoint_ids, &mark)
                .await
                .map(|()| vec![Action::MarkIdle { endpoint_ids: endpoint_ids.clone(), since: since.clone() }])
        }
        Write::UnmarkIdle { endpoint_ids } => account
            .untag_endpoints(endpoint_ids, &[TAG_IDLE_SINCE.to_string()])
            .await
            .map(|()| vec![Action::UnmarkIdle { endpoint_ids: endpoint_ids.clone() }]),
        Write::S3Gateway { endpoint_id: Some(endpoint_id), route_table_ids, .. } => {
            account.add_route_tables(endpoint_id, route_table_ids).await.map(|()| {
                info!(vpc = vpc_id, endpoint = %endpoint_id, route_tables = ?route_table_ids, "extended the S3 gateway endpoint");
                vec![Action::S3Gateway {
                    endpoint_id: Some(endpoint_id.clone()),
                    extended: true,
                    route_table_ids: route_table_ids.clone(),
                }]
            })
        }
        Write::S3Gateway { endpoint_id: None, service, route_table_ids, client_token } => {
            let tags = managed_tags("vpce-guard-s3");
            match account.create_s3_gateway(vpc_id, service, route_table_ids, client_token, &tags).await {
                Ok(endpoint) if !endpoint.live => {
                    return Ok(Wrote::HandedBack(handed_back_reason(client_token, &endpoint.id, "not live"), endpoint.id));
                }
                Ok(endpoint) => {
                    let id = endpoint.id;
                    info!(vpc = vpc_id, endpoint = %id, route_tables = ?route_table_ids, "created the S3 gateway endpoint");
                    Ok(vec![Action::S3Gateway {
                        endpoint_id: Some(id),
                        extended: false,
                        route_table_ids: route_table_ids.clone(),
                    }])
                }
                Err(error) => Err(error),
            }
        }
    };
    done.map(Wrote::Actions)
}

/// Why a create is retried: its `ClientToken` EC2 answered with an endpoint that is gone
/// (`state`), used before by an endpoint deleted since. The endpoint's id salts the next
/// round's token, so the re-plan creates a new one.
fn handed_back_reason(client_token: &str, endpoint_id: &str, state: &str) -> String {
    format!("client token {client_token} returned {endpoint_id} in state {state}")
}

/// Creates the managed group; if it already exists (a concurrent run), finds it.
async fn create_group<A: Account>(account: &A, vpc_id: &str) -> Result<String> {
    match account.create_group(vpc_id, MANAGED_GROUP_NAME, GROUP_DESCRIPTION, &managed_tags(MANAGED_GROUP_NAME)).await {
        Ok(id) => Ok(id),
        Err(error) if error.aws_code() == Some("InvalidGroup.Duplicate") => {
            let groups = account.managed_groups(&VpcSelector::Ids(vec![vpc_id.to_string()])).await?;
            groups.into_iter().next().map(|g| g.id).ok_or(error)
        }
        Err(error) => Err(error),
    }
}

/// Authorises TCP 443 from `sources`; a duplicate rule (a concurrent run) counts as done,
/// and the rest are then authorised one by one.
async fn authorize<A: Account>(account: &A, group_id: &str, sources: &[String]) -> Result<()> {
    one_by_one_on(account, group_id, sources, "InvalidPermission.Duplicate", |a, g, s| a.authorize_https(g, s)).await
}

/// Revokes the TCP 443 rules from `sources`; a rule already gone (a concurrent run, or a
/// person) counts as done, and the rest are then revoked one by one.
async fn revoke<A: Account>(account: &A, group_id: &str, sources: &[String]) -> Result<()> {
    one_by_one_on(account, group_id, sources, "InvalidPermission.NotFound", |a, g, s| a.revoke_https(g, s)).await
}

/// Calls `write` for all `sources` at once; when AWS answers `benign` (the batch is refused
/// as a whole for one source already in the wanted state), writes them one by one, ignoring
/// `benign` for each.
async fn one_by_one_on<'a, A, F, Fut>(
    account: &'a A,
    group_id: &'a str,
    sources: &'a [String],
    benign: &str,
    write: F,
) -> Result<()>
where
    A: Account,
    F: Fn(&'a A, &'a str, &'a [String]) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    match write(account, group_id, sources).await {
        Err(error) if error.aws_code() == Some(benign) && sources.len() > 1 => {
            for source in sources {
                match write(account, group_id, std::slice::from_ref(source)).await {
                    Err(e) if e.aws_code() == Some(benign) => {}
                    other => other?,
                }
            }
            Ok(())
        }
        Err(error) if error.aws_code() == Some(benign) => Ok(()),
        other => other,
    }
}
