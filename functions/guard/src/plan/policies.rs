//! Endpoint policies the configuration wants, and notebooks with direct internet access.

use super::*;
use crate::config::{is_api_service, is_notebook_service, ApiPolicy, NotebookPolicy};
use crate::policy;
use crate::report::{Code, Problem};

impl<'a> Planner<'a> {
    /// `None`: needs notebooks not yet read. `Some(None)`: policy not managed. `Some(Some(text))`.
    pub(super) fn wanted_policy(&mut self, service: &str) -> Option<Option<String>> {
        let identity = &self.obs.identity;
        if is_api_service(service) {
            return Some(match self.config.api_policy {
                ApiPolicy::Account => Some(policy::account_api_policy(identity).to_string()),
                ApiPolicy::Org => self.org_id().map(|org| policy::org_api_policy(org).to_string()),
                ApiPolicy::None => None,
            });
        }
        if !is_notebook_service(service) {
            return Some(None);
        }
        match self.config.notebook_policy {
            NotebookPolicy::None => Some(None),
            NotebookPolicy::AccountNotebooks => Some(Some(policy::account_notebooks_policy(identity).to_string())),
            NotebookPolicy::OrgNotebooks => {
                Some(self.org_id().map(|org| policy::org_notebooks_policy(identity, org).to_string()))
            }
            NotebookPolicy::VpcNotebooks => {
                let notebooks = self.obs.notebooks.as_ref()?;
                let (document, fallback) = policy::vpc_notebooks_policy(notebooks, identity);
                match fallback {
                    Some(policy::VpcPolicyFallback::TooLong) => self.plan.problems.push(Problem::warning(
                        Code::PolicyFallback,
                        format!(
                            "the ARNs of {} notebooks exceed the {}-character endpoint policy limit; the policy allows every notebook of the account instead",
                            notebooks.len(),
                            policy::MAX_POLICY_CHARS
                        ),
                    )),
                    Some(policy::VpcPolicyFallback::NoNotebook) => self.plan.problems.push(Problem::warning(
                        Code::NoNotebookInVpc,
                        format!(
                            "VPC {} holds no notebook instance (a client VPC?); its notebook endpoint allows every notebook of this account instead of none, so that its browsers are not locked out",
                            self.obs.vpc.id
                        ),
                    )),
                    None => {}
                }
                Some(Some(document.to_string()))
            }
        }
    }

    /// The Organization's id for the `org*` policies; its absence (the process could not read
    /// it) is reported, and the policy is then left as it is.
    pub(super) fn org_id(&mut self) -> Option<&'a str> {
        let org = self.obs.identity.org_id.as_deref();
        if org.is_none() {
            self.plan.problems.push(Problem::error(
                Code::OrganizationUnknown,
                "the policy mode needs this account's AWS Organization id, which could not be read; check organizations:DescribeOrganization",
            ));
        }
        org
    }

    /// Notebooks of the VPC that reach the internet around it (`DirectInternetAccess=Enabled`):
    /// the endpoints do not cover them.
    pub(super) fn report_direct_internet_access(&mut self) {
        let Some(notebooks) = &self.obs.notebooks else { return };
        let mut names: Vec<&str> =
            notebooks.iter().filter(|n| n.direct_internet_access).map(|n| n.name.as_str()).collect();
        if names.is_empty() {
            return;
        }
        names.sort_unstable();
        self.plan.problems.push(Problem::warning(
            Code::DirectInternetAccess,
            format!(
                "notebook instance(s) {} in VPC {} have DirectInternetAccess=Enabled and reach the internet around the VPC's endpoints; re-create them with DirectInternetAccess=Disabled (it cannot be changed in place)",
                names.join(", "),
                self.obs.vpc.id
            ),
        ));
    }
}
