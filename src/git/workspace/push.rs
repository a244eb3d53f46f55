//! Pushing as a compare-and-swap: on every transport, the remote branch moves only from the
//! head laminar built on; never a force-push of the watched branch.

use super::*;

impl Workspace {
    /// Pushes `commit` to the branch, never forced: the remote branch moves only if it still
    /// points at the last synced head. Once pushed, the workspace is in step with the remote
    /// at `commit`, so the next sync of an unchanged remote costs nothing.
    pub fn push(&mut self, commit: Oid) -> Result<Push, GitError> {
        let Some(expected) = self.last_head else {
            return Err(GitError::Workspace {
                path: self.dir().to_path_buf(),
                message: "not in step with the remote: sync first".into(),
            });
        };
        let pushed = match self.local {
            true => self.push_local(expected, commit)?,
            false => {
                let spec = format!("refs/heads/{0}:refs/heads/{0}", self.branch);
                self.push_over_network(&spec, None)?
            }
        };
        if pushed == Push::Pushed {
            self.repo
                .reference(&self.remote_ref(), commit, true, "laminar: pushed")
                .map_err(|e| self.local(e))?;
            self.last_head = Some(commit);
            self.clean = true;
            self.remember();
        }
        Ok(pushed)
    }

    fn push_local(&self, expected: Oid, commit: Oid) -> Result<Push, GitError> {
        let remote = local_push::remote_path(&self.url);
        local_push::push(&self.repo, &remote, &self.branch, expected, commit)
            .map_err(|e| self.local_push_error(e))
    }

    fn local_push_error(&self, e: LocalPushError) -> GitError {
        match e {
            LocalPushError::Locked(message) => GitError::RemoteLocked {
                url: redact(&self.url),
                message,
            },
            LocalPushError::Other(e) => GitError::Network {
                url: redact(&self.url),
                message: e.message().to_string(),
            },
        }
    }

    /// Over SSH and HTTPS the server checks the old value itself: a push that is not a fast
    /// forward of what it holds is refused. A forced `spec` comes with a `lease`, the value the
    /// remote branch must hold (`None`: it must not exist): the push is called off before
    /// anything is sent if the server advertises another, and the server moves the branch
    /// only from the value it advertised.
    fn push_over_network(&self, spec: &str, lease: Option<Option<Oid>>) -> Result<Push, GitError> {
        let trouble = RefCell::new(Trouble::default());
        let rejected = RefCell::new(None);
        // What the server says on the side: a ref it cannot lock is only named there.
        let remote_said = RefCell::new(String::new());
        let result = {
            let mut remote = self.repo.find_remote("origin").map_err(|e| self.local(e))?;
            let mut callbacks = self.auth.callbacks(&trouble);
            callbacks.push_update_reference(|_refname, status| {
                if let Some(status) = status {
                    *rejected.borrow_mut() = Some(status.to_string());
                }
                Ok(())
            });
            callbacks.sideband_progress(|text| {
                let mut said = remote_said.borrow_mut();
                if said.len() < 4096 {
                    said.push_str(&String::from_utf8_lossy(text));
                }
                true
            });
            let refused = &rejected;
            if let Some(lease) = lease {
                callbacks.push_negotiation(move |updates| {
                    let held = updates.first().map(|u| u.src()).filter(|o| !o.is_zero());
                    if held == lease {
                        return Ok(());
                    }
                    *refused.borrow_mut() = Some(format!(
                        "the remote branch holds {}, not {} (lease)",
                        held.map_or("nothing".into(), |o| o.to_string()),
                        lease.map_or("nothing".into(), |o| o.to_string()),
                    ));
                    Err(git2::Error::from_str("lease"))
                });
            }
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            remote.push(&[spec], Some(&mut options))
        };
        let why = match result {
            Ok(()) => rejected.into_inner(),
            Err(_) if rejected.borrow().is_some() => rejected.into_inner(),
            Err(e) if is_rejection(&e) => Some(e.message().to_string()),
            Err(e) => return Err(self.failure(Failed::Remote(e, trouble.into_inner()))),
        };
        let remote_said = remote_said.into_inner();
        match why {
            None => Ok(Push::Pushed),
            Some(_) if remote_said.contains(".lock': File exists") => Err(GitError::RemoteLocked {
                url: redact(&self.url),
                message: remote_said.trim().to_string(),
            }),
            Some(why) => Ok(Push::Rejected(why)),
        }
    }

    /// Where another branch of the remote points (`None`: it does not exist), its tip
    /// fetched. For laminar's own branches, next to the watched one.
    pub fn branch_tip(&mut self, branch: &str) -> Result<Option<Oid>, GitError> {
        let tracking = format!("refs/remotes/origin/{branch}");
        if let Ok(mut stale) = self.repo.find_reference(&tracking) {
            stale.delete().map_err(|e| self.local(e))?;
        }
        let trouble = RefCell::new(Trouble::default());
        let fetched = {
            let mut remote = self.repo.find_remote("origin").map_err(|e| self.local(e))?;
            let mut options = FetchOptions::new();
            options.remote_callbacks(self.auth.callbacks(&trouble));
            if !self.local {
                options.depth(self.depth);
            }
            remote.fetch(&[refspec(branch)], Some(&mut options), None)
        };
        if let Err(e) = fetched {
            return Err(self.remote_error(e, trouble.into_inner()));
        }
        Ok(self.repo.refname_to_id(&tracking).ok())
    }

    /// Points `branch` on the remote at `commit`, forced, but only if the branch still holds
    /// `lease` (`None`: it must not exist yet) — never over commits laminar has not seen.
    /// For laminar's own branches; the watched branch is only ever pushed by [`Workspace::push`].
    pub fn push_branch(
        &mut self,
        commit: Oid,
        branch: &str,
        lease: Option<Oid>,
    ) -> Result<Push, GitError> {
        let Some(base) = self.last_head else {
            return Err(GitError::Workspace {
                path: self.dir().to_path_buf(),
                message: "not in step with the remote: sync first".into(),
            });
        };
        let pushed = match self.local {
            true => {
                let remote = local_push::remote_path(&self.url);
                let update = Leased {
                    branch,
                    lease,
                    new: commit,
                };
                local_push::push_with_lease(&self.repo, &remote, base, update)
                    .map_err(|e| self.local_push_error(e))?
            }
            false => {
                // libgit2 pushes from a ref: a private one, never a branch of the workspace.
                let outgoing = "refs/laminar/outgoing";
                self.repo
                    .reference(outgoing, commit, true, "laminar: outgoing")
                    .map_err(|e| self.local(e))?;
                let spec = format!("+{outgoing}:refs/heads/{branch}");
                self.push_over_network(&spec, Some(lease))?
            }
        };
        if pushed == Push::Pushed {
            let tracking = format!("refs/remotes/origin/{branch}");
            self.repo
                .reference(&tracking, commit, true, "laminar: pushed")
                .map_err(|e| self.local(e))?;
        }
        Ok(pushed)
    }

    pub(super) fn remote_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.branch)
    }
}

fn is_rejection(e: &git2::Error) -> bool {
    let message = e.message();
    e.code() == ErrorCode::NotFastForward
        || message.contains("non-fast-forward")
        || message.contains("fetch first")
        || message.contains("rejected")
}
