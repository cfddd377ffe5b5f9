//! [`SageMaker`] with `aws-sdk-sagemaker`: notebook instances and Studio domains.

use std::fmt::Debug;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use super::{aws_error, SdkAccount};
use crate::account::{NotebookSummary, SageMaker};
use crate::error::Result;
use crate::model::{Domain, DomainSummary, Notebook};

impl SageMaker for SdkAccount {
    async fn list_domains(&self) -> Result<Vec<DomainSummary>> {
        let mut domains = Vec::new();
        let mut pages = self.sagemaker.list_domains().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ListDomains", e))?;
            domains.extend(page.domains().iter().map(|d| DomainSummary {
                id: d.domain_id().unwrap_or_default().to_string(),
                arn: d.domain_arn().unwrap_or_default().to_string(),
                status: d.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                modified: d.last_modified_time().map(|t| t.secs()),
            }));
        }
        Ok(domains)
    }

    async fn describe_domain(&self, domain_id: &str) -> Result<Option<Domain>> {
        match self.sagemaker.describe_domain().domain_id(domain_id).send().await {
            Ok(out) => Ok(Some(Domain {
                id: out.domain_id().unwrap_or(domain_id).to_string(),
                arn: out.domain_arn().unwrap_or_default().to_string(),
                vpc_id: out.vpc_id().unwrap_or_default().to_string(),
                subnet_ids: out.subnet_ids().to_vec(),
                vpc_only: out.app_network_access_type().is_some_and(|t| t.as_str().eq_ignore_ascii_case("VpcOnly")),
                status: out.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                modified: out.last_modified_time().map(|t| t.secs()),
            })),
            // DescribeDomain answers an unknown id with ResourceNotFound (API reference, Errors).
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("ResourceNotFound") => Ok(None),
            Err(e) => Err(aws_error("DescribeDomain", e)),
        }
    }

    async fn list_notebooks(&self) -> Result<Vec<NotebookSummary>> {
        let mut notebooks = Vec::new();
        let mut pages = self.sagemaker.list_notebook_instances().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ListNotebookInstances", e))?;
            notebooks.extend(page.notebook_instances().iter().map(|n| NotebookSummary {
                name: n.notebook_instance_name().unwrap_or_default().to_string(),
                arn: n.notebook_instance_arn().unwrap_or_default().to_string(),
                status: n.notebook_instance_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                created: n.creation_time().map(|t| t.secs()),
            }));
        }
        Ok(notebooks)
    }

    async fn describe_notebook(&self, name: &str) -> Result<Option<Notebook>> {
        match self.sagemaker.describe_notebook_instance().notebook_instance_name(name).send().await {
            Ok(out) => Ok(Some(Notebook {
                name: out.notebook_instance_name().unwrap_or(name).to_string(),
                arn: out.notebook_instance_arn().unwrap_or_default().to_string(),
                subnet_id: out.subnet_id().map(str::to_string),
                status: out.notebook_instance_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                direct_internet_access: out
                    .direct_internet_access()
                    .is_some_and(|access| access.as_str().eq_ignore_ascii_case("Enabled")),
                created: out.creation_time().map(|t| t.secs()),
            })),
            // SageMaker answers a missing notebook with ValidationException "RecordNotFound".
            Err(e) if is_record_not_found(&e) => Ok(None),
            Err(e) => Err(aws_error("DescribeNotebookInstance", e)),
        }
    }
}

fn is_record_not_found<E: ProvideErrorMetadata + Debug, R: Debug>(error: &SdkError<E, R>) -> bool {
    error.as_service_error().is_some_and(|e| {
        e.code() == Some("ValidationException")
            && e.message().is_some_and(|m| m.contains("RecordNotFound") || m.contains("not found"))
    })
}
