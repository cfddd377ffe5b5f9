//! vpce-guard keeps Amazon SageMaker notebook instances reachable only over AWS PrivateLink:
//! every VPC in scope gets interface endpoints for `com.amazonaws.{region}.sagemaker.api`
//! (first) and `aws.sagemaker.{region}.notebook`, in every AZ it has subnets in, with the
//! endpoint policy the account wants and private DNS on.
//!
//! One reconcile loop, many doors (Lambda events, schedule, manual payload, CLI):
//!
//! - [`events`] parses what arrives into a [`events::Trigger`] (pure);
//! - [`observe`](guard::Guard::observe) reads the account through the [`account::Account`]
//!   trait, batched per page;
//! - [`plan`] turns an [`model::Observation`] into ordered writes (pure, table-tested);
//! - [`apply`] executes them idempotently, re-planning on conflicts;
//! - [`report`] is the one value every entry point returns (JSON contract, text rendering).
//!
//! [`approval`] lets a caller (the CLI's `apply`) refuse writes it was not shown; [`guardrail`]
//! keeps the opt-in IAM guardrail policy in sync.
//!
//! [`aws::SdkAccount`] implements the trait with the AWS SDK, `fake::FakeAccount` (feature `testing`) in
//! memory with AWS's rules enforced. [`lambda`] holds what the function binaries share.

#![warn(missing_docs)]

pub mod account;
pub mod apply;
pub mod approval;
pub mod aws;
pub mod config;
mod drift;
pub mod error;
pub mod events;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod findings;
pub mod guard;
pub mod guardrail;
pub mod lambda;
pub mod model;
mod observe;
pub mod plan;
pub mod policy;
mod post_run;
mod reconcile;
pub mod report;
mod run;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trail;
mod triggers;

pub use error::{Error, ErrorClass, Result};
pub use guard::{Guard, RunOptions};
