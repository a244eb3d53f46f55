//! What a plan weighs beyond the files and the registries, kept between cycles: the daemon's
//! holds, and the tags laminar last wrote (which tell a rollback from a stale reference).

use super::*;

impl RepoCycle {
    /// The holds in force for this repo and the tags laminar last wrote in it — by commits
    /// still in `head`'s history: one a force-push dropped wrote nothing anyone rolled back.
    pub(super) async fn standing(
        &mut self,
        shared: &Shared,
        head: Oid,
    ) -> Result<Standing, CycleError> {
        let file = self.open_workspace()?.sidecar(Written::SUFFIX);
        let written = self
            .written
            .get_or_insert_with(|| crate::store::load_record(&file, "record of written tags"));
        // Checked once per head: a cycle with nothing new upstream asks git nothing.
        if self.written_checked != Some(head) && !written.files.is_empty() {
            let commits: Vec<String> = written.commits().into_iter().map(String::from).collect();
            let gone = self
                .git(move |w| {
                    commits
                        .into_iter()
                        .filter(|c| Oid::from_str(c).is_ok_and(|c| !w.in_history(head, c)))
                        .collect::<Vec<_>>()
                })
                .await?;
            if let Some(written) = self.written.as_mut().filter(|_| !gone.is_empty()) {
                written.forget_commits(&gone);
                crate::store::save_record(&file, written, "record of written tags");
            }
        }
        self.written_checked = Some(head);
        let trust = Trust {
            registry_gates: shared.registry_gates.clone(),
            verdicts: Default::default(),
        };
        Ok(Standing {
            holds: shared.holds.for_repo(&self.repo.name),
            written: self.written.clone().unwrap_or_default(),
            trust,
            chain: Default::default(),
        })
    }

    /// Saves what the cycle learned: the holds its plan made and ended, and the tags it wrote
    /// on the watched branch (pull requests write elsewhere).
    pub(super) fn keep_standing(&mut self, shared: &Shared, report: &CycleReport) {
        if let Err(err) = shared.holds.change(&report.holds_made, &report.holds_ended) {
            tracing::error!(error = %err, "cannot keep the holds");
        }
        for hold in &report.holds_made {
            tracing::info!(hold = %hold.id, image = %hold.image, file = ?hold.file, "{}", crate::plan::describe_hold(hold));
        }
        let (Some(written), Some(workspace)) = (self.written.as_mut(), self.workspace.as_ref())
        else {
            return;
        };
        let before = written.clone();
        for (file, image) in &report.forgotten {
            written.forget(file, image);
        }
        if let (CycleResult::Updated, Some(head), None) =
            (report.result, report.head, &self.repo.pull_request)
        {
            for change in &report.changes {
                let file = slash_path(&change.site.path);
                written.set(&file, &change.image, &change.new_tag, &head.to_string());
            }
        }
        if *written != before {
            crate::store::save_record(
                &workspace.sidecar(Written::SUFFIX),
                written,
                "record of written tags",
            );
        }
    }
}
