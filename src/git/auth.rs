//! Credentials and host key checks for libgit2's remote callbacks.

use std::cell::RefCell;
use std::path::PathBuf;

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

use super::known_hosts::{self, Verdict};
use crate::config::git_url::Remote;
use crate::config::{Repo, SecretSource};
use crate::secret::Secret;

/// Everything needed to talk to one remote; secrets are read when a connection is made.
#[derive(Clone, Debug)]
pub(crate) struct GitAuth {
    remote: Remote,
    key: Option<PathBuf>,
    key_passphrase: Option<SecretSource>,
    known_hosts: PathBuf,
    skip_host_keys: bool,
    username: Option<String>,
    password: Option<SecretSource>,
}

/// What went wrong while connecting, in more words than libgit2 keeps.
#[derive(Debug, Default)]
pub(crate) struct Trouble {
    pub host_key: Option<Box<HostKeyError>>,
    pub credentials: Option<Box<CredentialsError>>,
}

/// Why laminar could not answer the remote's request for credentials.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum CredentialsError {
    #[error("the repo has no SSH key configured (key:)")]
    NoKey,
    #[error(
        "the remote wants a password or token and none is configured (passwordEnv/passwordFile)"
    )]
    NoPassword,
    #[error("{0}")]
    Secret(String),
    #[error("cannot use SSH key {}: {message}", key.display())]
    Key { key: PathBuf, message: String },
    #[error("{0}")]
    Refused(String),
    #[error("the remote asks for credentials laminar cannot give ({0})")]
    Unsupported(String),
}

/// Why an SSH host key was not trusted; each says how to check and fix it.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum HostKeyError {
    #[error(
        "unknown SSH host {name}: its {key_type} key {fingerprint} is not in {file}; \
         check the fingerprint, then add it with `{keyscan} >> {file}`"
    )]
    Unknown {
        name: String,
        key_type: String,
        fingerprint: String,
        file: String,
        keyscan: String,
    },
    #[error(
        "SSH host key mismatch for {name}: it presented the {key_type} key {fingerprint}, \
         which is not the one in {file} (was the host re-keyed, or is someone in between?)"
    )]
    Mismatch {
        name: String,
        key_type: String,
        fingerprint: String,
        file: String,
    },
    #[error("SSH host {name} presented the revoked {key_type} key {fingerprint}")]
    Revoked {
        name: String,
        key_type: String,
        fingerprint: String,
    },
}

impl GitAuth {
    pub(crate) fn new(repo: &Repo, home: Option<&std::path::Path>) -> GitAuth {
        let default_known_hosts = home.map_or_else(
            || PathBuf::from(".ssh/known_hosts"),
            |h| h.join(".ssh/known_hosts"),
        );
        GitAuth {
            remote: Remote::parse(&repo.url),
            key: repo.key.clone(),
            key_passphrase: repo.key_passphrase.clone(),
            known_hosts: repo.known_hosts.clone().unwrap_or(default_known_hosts),
            skip_host_keys: repo.insecure_skip_host_key_verification,
            username: repo.username.clone(),
            password: repo.password.clone(),
        }
    }

    pub(crate) fn skips_host_keys(&self) -> bool {
        self.skip_host_keys && matches!(self.remote, Remote::Ssh { .. })
    }

    /// Callbacks that answer credential requests and verify SSH host keys, noting what failed
    /// in `trouble`.
    pub(crate) fn callbacks<'a>(&'a self, trouble: &'a RefCell<Trouble>) -> RemoteCallbacks<'a> {
        if self.remote == Remote::Http {
            super::trust::trust_system_roots();
        }
        let mut callbacks = RemoteCallbacks::new();
        let mut asked = 0;
        callbacks.credentials(move |_url, user_from_url, allowed| {
            // libgit2 asks again after a refusal; a second refusal is final.
            asked += 1;
            if asked > 2 {
                return Err(git2::Error::from_str("credentials were refused"));
            }
            self.credentials(user_from_url, allowed).map_err(|why| {
                let error = git2::Error::from_str(&why.to_string());
                trouble.borrow_mut().credentials = Some(Box::new(why));
                error
            })
        });
        callbacks.certificate_check(move |cert, _host| {
            let Some(hostkey) = cert.as_hostkey() else {
                // TLS certificates: libgit2's own verification applies.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let (Some(key), Some(key_type)) = (hostkey.hostkey(), hostkey.hostkey_type()) else {
                return Err(git2::Error::from_str("the server sent no usable host key"));
            };
            match self.check_host_key(key_type.name(), key) {
                Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                Err(why) => {
                    let error = git2::Error::from_str(&why.to_string());
                    trouble.borrow_mut().host_key = Some(Box::new(why));
                    Err(error)
                }
            }
        });
        callbacks
    }

    fn credentials(
        &self,
        user_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, CredentialsError> {
        let refused = |e: git2::Error| CredentialsError::Refused(e.message().to_string());
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user_from_url.unwrap_or("git")).map_err(refused);
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            let user = user_from_url.unwrap_or("git");
            let key = self.key.as_ref().ok_or(CredentialsError::NoKey)?;
            let passphrase = self
                .key_passphrase
                .as_ref()
                .map(SecretSource::read)
                .transpose()
                .map_err(|e| CredentialsError::Secret(e.to_string()))?;
            return Cred::ssh_key(user, None, key, passphrase.as_ref().map(Secret::expose))
                .map_err(|e| CredentialsError::Key {
                    key: key.clone(),
                    message: e.message().to_string(),
                });
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            let password = self.password.as_ref().ok_or(CredentialsError::NoPassword)?;
            let user = self
                .username
                .as_deref()
                .or(user_from_url)
                .unwrap_or("laminar");
            let password = password
                .read()
                .map_err(|e| CredentialsError::Secret(e.to_string()))?;
            return Cred::userpass_plaintext(user, password.expose()).map_err(refused);
        }
        Err(CredentialsError::Unsupported(format!("{allowed:?}")))
    }

    fn check_host_key(&self, key_type: &str, key: &[u8]) -> Result<(), HostKeyError> {
        let Remote::Ssh { host, port, .. } = &self.remote else {
            return Ok(());
        };
        if self.skip_host_keys {
            return Ok(());
        }
        let name = Remote::known_hosts_name(host, *port);
        let known = std::fs::read_to_string(&self.known_hosts).unwrap_or_default();
        let fingerprint = known_hosts::fingerprint(key);
        let file = self.known_hosts.display().to_string();
        let key_type = key_type.to_string();
        let keyscan = if *port == 22 {
            format!("ssh-keyscan -t {key_type} {host}")
        } else {
            format!("ssh-keyscan -p {port} -t {key_type} {host}")
        };
        match known_hosts::check(&known, &name, &key_type, key) {
            Verdict::Trusted => Ok(()),
            Verdict::Unknown => Err(HostKeyError::Unknown {
                name,
                key_type,
                fingerprint,
                file,
                keyscan,
            }),
            Verdict::Mismatch => Err(HostKeyError::Mismatch {
                name,
                key_type,
                fingerprint,
                file,
            }),
            Verdict::Revoked => Err(HostKeyError::Revoked {
                name,
                key_type,
                fingerprint,
            }),
        }
    }
}
