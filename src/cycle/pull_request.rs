//! Pull-request mode: the plan goes to laminar's own branches, one per group, each built
//! from the watched branch's head and proposed to it; the watched branch is never pushed.
//!
//! A branch is rebuilt when the watched branch moves or the plan changes, and pushed with a
//! lease: only over the commit laminar last pushed there (or, with that record lost, over a
//! commit laminar made). A branch someone else added to is left alone. When a group's plan
//! becomes empty its pull request is closed with a comment; one someone declined is not
//! proposed again until a newer tag is.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use git2::Oid;

use super::delivered::{Delivered, Proposed};
use super::proposal::{self, Group, Next};
use super::repo_rules::Rules;
use super::report::{Proposal, ProposalAction};
use super::{CycleError, CycleReport, Mode, RepoCycle, Shared};
use crate::config::{PullRequest, Repo};
use crate::forge::{self, Forge, PullState};
use crate::git::Push;
use crate::plan::{DeployOrder, Plan, TagTable};

/// What every group of one cycle is proposed against.
pub(super) struct Proposing<'a> {
    pub pull: &'a PullRequest,
    pub rules: &'a Rules,
    /// The watched branch's head.
    pub base: Oid,
    pub tags: &'a TagTable,
    /// Managed images whose registry did not answer this cycle.
    pub unanswered: &'a HashSet<String>,
}

impl RepoCycle {
    /// Proposes the plan. `Ok(true)` when a branch was pushed.
    pub(super) async fn propose(
        &mut self,
        shared: &Shared,
        p: &Proposing<'_>,
        planned: &Plan,
        mode: Mode,
        report: &mut CycleReport,
    ) -> Result<bool, CycleError> {
        let groups = proposal::groups(&p.rules.repo, p.pull, &planned.changes);
        let record_file = self.open_workspace()?.sidecar(Delivered::SUFFIX);
        let mut delivered = self
            .delivered
            .take()
            .unwrap_or_else(|| Delivered::load(&record_file));
        let stale: Vec<String> = delivered
            .branches
            .keys()
            .filter(|branch| !groups.contains_key(*branch))
            .cloned()
            .collect();
        if mode == Mode::DryRun {
            report.proposals = would_propose(p, &groups, &delivered, &stale);
            self.delivered = Some(delivered);
            return Ok(false);
        }
        let forge = self.forge(p.pull)?;
        let mut pushed = false;
        let mut delivered_changes = Vec::new();
        for group in groups.values() {
            match self
                .deliver(shared, p, (&forge, group), &mut delivered, report)
                .await
            {
                Ok(outcome) => {
                    if matches!(
                        outcome.action,
                        ProposalAction::Opened | ProposalAction::Updated
                    ) {
                        pushed = true;
                        delivered_changes.extend(group.changes.iter().cloned());
                    }
                    report.proposals.push(outcome);
                }
                Err(error) => report.errors.push(error),
            }
        }
        for branch in stale {
            match retire(&forge, &branch, p, &mut delivered).await {
                Ok(Some(outcome)) => report.proposals.push(outcome),
                Ok(None) => {}
                Err(error) => report.errors.push(error),
            }
        }
        delivered.save(&record_file);
        report.open_pulls = Some(open_pulls(shared, &self.repo.name, &delivered));
        report.changes = delivered_changes;
        self.delivered = Some(delivered);
        Ok(pushed)
    }

    /// A deploy request in pull-request mode: its changes go to a branch of their own
    /// (`{group}` is `deploy-<id>`), proposed for review. Regular cycles keep no record of it,
    /// so they leave that branch and its pull request alone. `Ok(true)` once proposed.
    pub(super) async fn propose_deploy(
        &mut self,
        shared: &Shared,
        p: &Proposing<'_>,
        order: &DeployOrder,
        planned: &Plan,
        report: &mut CycleReport,
    ) -> Result<bool, CycleError> {
        if planned.is_empty() {
            return Ok(false);
        }
        let forge = self.forge(p.pull)?;
        let repo = &p.rules.repo;
        let name = format!("deploy-{}", order.id);
        let group = Group {
            branch: proposal::branch_name(&p.pull.branch, repo, &name),
            name,
            changes: planned.changes.clone(),
        };
        let built = self
            .apply_exec_commit(shared, p.rules, planned, Some(order))
            .await;
        self.git(|w| w.discard()).await??;
        let Some(commit) = built? else {
            return Ok(false);
        };
        if shared.abort.load(Ordering::SeqCst) {
            return Err(CycleError::Abandoned);
        }
        self.push_branch(shared, commit, &group.branch, None)
            .await?;
        let message = super::message::deploy(order, &planned.changes);
        let title = message.lines().next().unwrap_or_default().to_string();
        let mut body = format!("Requested by deploy `{}`.\n\n", order.id);
        if let Some(reason) = &order.reason {
            for line in reason.lines() {
                body.push_str(&format!("> {line}\n"));
            }
            body.push('\n');
        }
        body.push_str(&proposal::body(p.pull, repo, &group, p.tags));
        let pull = open(&forge, &group.branch, repo, (&title, &body), report).await?;
        tracing::info!(branch = %group.branch, number = pull.number, url = %pull.url, deploy = %order.id, "deploy proposed");
        report.proposals.push(Proposal {
            branch: group.branch,
            title,
            action: ProposalAction::Opened,
            pull: Some(pull),
        });
        report.changes = planned.changes.clone();
        Ok(true)
    }

    /// Brings one group's branch and pull request in line with the plan.
    async fn deliver(
        &mut self,
        shared: &Shared,
        p: &Proposing<'_>,
        (forge, group): (&Forge, &Group),
        delivered: &mut Delivered,
        report: &mut CycleReport,
    ) -> Result<Proposal, CycleError> {
        let repo = &p.rules.repo;
        let title = proposal::title(p.pull, repo, group);
        let record = delivered.branches.get(&group.branch).cloned();
        let fingerprint = group.fingerprint();
        let base = p.base.to_string();
        let outcome = |action, pull| Proposal {
            branch: group.branch.clone(),
            title: title.clone(),
            action,
            pull,
        };
        match proposal::next(record.as_ref(), &fingerprint, &base, p.unanswered) {
            Next::Wait(record) => return Ok(outcome(ProposalAction::Waiting, record.pull.clone())),
            Next::Declined(record) => {
                return Ok(outcome(ProposalAction::Declined, record.pull.clone()));
            }
            Next::UpToDate(record) => {
                return Ok(outcome(ProposalAction::UpToDate, record.pull.clone()));
            }
            Next::RebuildUnlessClosed(record, pull)
                if forge.state(pull.number).await? == PullState::Closed =>
            {
                let mut declined = record.clone();
                declined.declined = true;
                delivered.branches.insert(group.branch.clone(), declined);
                return Ok(outcome(ProposalAction::Declined, record.pull.clone()));
            }
            Next::RebuildUnlessClosed(..) | Next::Build => {}
        }

        let tip = self.laminars_tip(&group.branch, record.as_ref()).await?;
        let Some(head) = self.build_branch(shared, p, group, tip).await? else {
            return Ok(outcome(ProposalAction::UpToDate, None));
        };
        let mut proposed = Proposed {
            group: group.name.clone(),
            base,
            fingerprint,
            pushed: head.to_string(),
            images: group.images(),
            pull: None,
            declined: false,
        };
        // Recorded before the forge is asked: the lease holds even if the forge fails.
        delivered
            .branches
            .insert(group.branch.clone(), proposed.clone());

        let body = proposal::body(p.pull, repo, group, p.tags);
        let (pull, action) = match forge.find_open(&group.branch, &repo.branch).await? {
            Some(pull) => {
                forge.update(pull.number, &title, &body).await?;
                (pull, ProposalAction::Updated)
            }
            None => (
                open(forge, &group.branch, repo, (&title, &body), report).await?,
                ProposalAction::Opened,
            ),
        };
        tracing::info!(branch = %group.branch, number = pull.number, url = %pull.url, "pull request {}", action.describe());
        proposed.pull = Some(pull.clone());
        delivered.branches.insert(group.branch.clone(), proposed);
        Ok(outcome(action, Some(pull)))
    }

    /// Builds the group's commit on the watched head and pushes it to laminar's branch, unless
    /// the branch (at `tip`) holds the same change already: the branch's head after, or
    /// `None` when the group changes nothing.
    async fn build_branch(
        &mut self,
        shared: &Shared,
        p: &Proposing<'_>,
        group: &Group,
        tip: Option<Oid>,
    ) -> Result<Option<Oid>, CycleError> {
        let built = self
            .apply_exec_commit(shared, p.rules, &group.plan(), None)
            .await;
        // Back to the watched head, for the next group and the next cycle.
        self.git(|w| w.discard()).await??;
        let Some(commit) = built? else {
            return Ok(None);
        };
        let same = match tip {
            Some(tip) => self.git(move |w| w.same_change(tip, commit)).await?,
            None => false,
        };
        if let (true, Some(tip)) = (same, tip) {
            return Ok(Some(tip));
        }
        if shared.abort.load(Ordering::SeqCst) {
            return Err(CycleError::Abandoned);
        }
        self.push_branch(shared, commit, &group.branch, tip).await?;
        Ok(Some(commit))
    }

    /// The tip of laminar's `branch`, if it exists — refused when someone else's commit is
    /// on it (neither the one laminar last pushed nor one laminar made).
    async fn laminars_tip(
        &mut self,
        branch: &str,
        record: Option<&Proposed>,
    ) -> Result<Option<Oid>, CycleError> {
        let name = branch.to_string();
        let tip = self.git(move |w| w.branch_tip(&name)).await??;
        if let Some(tip) = tip {
            let recorded = record.is_some_and(|r| r.pushed == tip.to_string());
            if !recorded && !self.git(move |w| w.made_by_laminar(tip)).await? {
                return Err(CycleError::BranchTaken {
                    branch: branch.to_string(),
                });
            }
        }
        Ok(tip)
    }

    async fn push_branch(
        &mut self,
        shared: &Shared,
        commit: Oid,
        branch: &str,
        lease: Option<Oid>,
    ) -> Result<(), CycleError> {
        let name = branch.to_string();
        let pushed = self
            .git(move |w| w.push_branch(commit, &name, lease))
            .await?;
        super::record_push(shared, &self.repo.name, &pushed);
        match pushed? {
            Push::Pushed => Ok(()),
            Push::Rejected(why) => Err(CycleError::LeaseLost {
                branch: branch.to_string(),
                why,
            }),
        }
    }

    /// The repo's forge client, made at the first pull-request cycle.
    fn forge(&mut self, pull: &PullRequest) -> Result<Arc<Forge>, CycleError> {
        if let Some(forge) = &self.forge {
            return Ok(forge.clone());
        }
        let forge = Arc::new(Forge::new(pull)?);
        self.forge = Some(forge.clone());
        Ok(forge)
    }
}

/// Opens a pull request of `branch` into the repo's watched branch. What the forge refused
/// besides (a label, a reviewer) is reported, not fatal.
async fn open(
    forge: &Forge,
    branch: &str,
    repo: &Repo,
    (title, body): (&str, &str),
    report: &mut CycleReport,
) -> Result<forge::PullRequestRef, CycleError> {
    let ask = forge::NewPullRequest {
        branch,
        base: &repo.branch,
        title,
        body,
    };
    let (pull, problems) = forge.open(&ask).await?;
    report
        .errors
        .extend(problems.into_iter().map(CycleError::from));
    Ok(pull)
}

/// A branch whose group has nothing left to change: its open pull request is closed with a
/// comment, and the branch forgotten. Not while a registry of its images is silent: an
/// outage must not look like an empty plan.
async fn retire(
    forge: &Forge,
    branch: &str,
    p: &Proposing<'_>,
    delivered: &mut Delivered,
) -> Result<Option<Proposal>, CycleError> {
    let record = &delivered.branches[branch];
    if record.images.iter().any(|i| p.unanswered.contains(i)) {
        return Ok(None);
    }
    let mut outcome = None;
    if let Some(pull) = record.pull.clone().filter(|_| !record.declined)
        && forge.state(pull.number).await? == PullState::Open
    {
        let comment = format!(
            "Closed by laminar: `{}` no longer needs these changes (they were made there, or the references changed).",
            p.rules.repo.branch
        );
        forge.close(pull.number, &comment).await?;
        tracing::info!(
            branch,
            number = pull.number,
            "pull request closed: nothing left to change"
        );
        outcome = Some(Proposal {
            branch: branch.to_string(),
            title: String::new(),
            action: ProposalAction::Closed,
            pull: Some(pull),
        });
    }
    delivered.branches.remove(branch);
    Ok(outcome)
}

/// What a dry run says each group's branch would see.
fn would_propose(
    p: &Proposing<'_>,
    groups: &BTreeMap<String, Group>,
    delivered: &Delivered,
    stale: &[String],
) -> Vec<Proposal> {
    let mut proposals: Vec<Proposal> = groups
        .values()
        .map(|group| Proposal {
            branch: group.branch.clone(),
            title: proposal::title(p.pull, &p.rules.repo, group),
            action: match delivered.branches.contains_key(&group.branch) {
                true => ProposalAction::WouldUpdate,
                false => ProposalAction::WouldOpen,
            },
            pull: delivered
                .branches
                .get(&group.branch)
                .and_then(|d| d.pull.clone()),
        })
        .collect();
    for branch in stale {
        let pull = delivered.branches[branch].pull.clone();
        if pull.is_some() {
            proposals.push(Proposal {
                branch: branch.clone(),
                title: String::new(),
                action: ProposalAction::WouldClose,
                pull,
            });
        }
    }
    proposals
}

/// The pull requests open after a cycle, for the report and the metrics.
fn open_pulls(
    shared: &Shared,
    repo: &str,
    delivered: &Delivered,
) -> Vec<(String, forge::PullRequestRef)> {
    let open: Vec<(String, forge::PullRequestRef)> = delivered
        .open()
        .map(|(branch, pull)| (branch.clone(), pull.clone()))
        .collect();
    shared.metrics.pull_requests_open(
        repo,
        open.iter().map(|(branch, pull)| {
            let created = pull
                .created_at
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(std::time::SystemTime::from);
            (branch.as_str(), pull.number, created)
        }),
    );
    open
}
