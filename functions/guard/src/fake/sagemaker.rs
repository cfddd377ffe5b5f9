//! The fake account's [`SageMaker`]: notebook instances and Studio domains.

use crate::account::{NotebookSummary, SageMaker};
use crate::error::Result;
use crate::model::{Domain, DomainSummary, Notebook};

use super::FakeAccount;

impl SageMaker for FakeAccount {
    async fn list_domains(&self) -> Result<Vec<DomainSummary>> {
        self.read();
        Ok(self.with_state(|s| {
            s.domains
                .values()
                .map(|d| DomainSummary {
                    id: d.id.clone(),
                    arn: d.arn.clone(),
                    status: d.status.clone(),
                    modified: d.modified,
                })
                .collect()
        }))
    }

    async fn describe_domain(&self, domain_id: &str) -> Result<Option<Domain>> {
        self.read();
        Ok(self.with_state(|s| s.domains.get(domain_id).cloned()))
    }

    async fn list_notebooks(&self) -> Result<Vec<NotebookSummary>> {
        self.read();
        Ok(self.with_state(|s| {
            // Notebooks created while a run reads: each appears once its count of listings is spent.
            for (listings, notebook) in &mut s.arriving_notebooks {
                if *listings == 0 {
                    s.notebooks.insert(notebook.name.clone(), notebook.clone());
                }
                *listings = listings.saturating_sub(1);
            }
            s.notebooks
                .values()
                .map(|n| NotebookSummary {
                    name: n.name.clone(),
                    arn: n.arn.clone(),
                    status: n.status.clone(),
                    created: n.created,
                })
                .collect()
        }))
    }

    async fn describe_notebook(&self, name: &str) -> Result<Option<Notebook>> {
        self.read();
        Ok(self.with_state(|s| s.notebooks.get(name).cloned()))
    }
}
