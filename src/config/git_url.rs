//! Remote URLs: which transport, which host and port (for host keys), which user, and a form
//! safe to print.

/// What laminar needs to know about a remote URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    /// `ssh://user@host:port/path` or scp-like `user@host:path`.
    Ssh {
        user: Option<String>,
        host: String,
        port: u16,
    },
    /// `https://…` or `http://…`.
    Http,
    /// `file://…` or a local path.
    Local,
}

impl Remote {
    pub fn parse(url: &str) -> Remote {
        if let Some(rest) = url
            .strip_prefix("ssh://")
            .or_else(|| url.strip_prefix("git+ssh://"))
        {
            let authority = rest.split('/').next().unwrap_or(rest);
            let (user, host_port) = split_user(authority);
            let (host, port) = split_port(host_port);
            return Remote::Ssh { user, host, port };
        }
        if url.starts_with("https://") || url.starts_with("http://") {
            return Remote::Http;
        }
        if url.starts_with("file://") || url.starts_with('/') || url.starts_with('.') {
            return Remote::Local;
        }
        // scp-like: [user@]host:path, where the host part has no slash.
        match url.split_once(':') {
            Some((authority, _path)) if !authority.contains('/') && !authority.is_empty() => {
                let (user, host) = split_user(authority);
                Remote::Ssh {
                    user,
                    host: host.trim_matches(['[', ']']).to_string(),
                    port: 22,
                }
            }
            _ => Remote::Local,
        }
    }

    /// The name a host goes by in known_hosts: `host`, or `[host]:port` off port 22.
    pub fn known_hosts_name(host: &str, port: u16) -> String {
        if port == 22 {
            host.to_string()
        } else {
            format!("[{host}]:{port}")
        }
    }
}

fn split_user(authority: &str) -> (Option<String>, &str) {
    match authority.rsplit_once('@') {
        Some((user, host)) => (
            Some(user.split(':').next().unwrap_or(user).to_string()),
            host,
        ),
        None => (None, authority),
    }
}

fn split_port(host_port: &str) -> (String, u16) {
    if let Some((host, after)) = host_port
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
    {
        let port = after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(22);
        return (host.to_string(), port);
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => {
            (host.to_string(), port.parse().unwrap_or(22))
        }
        _ => (host_port.to_string(), 22),
    }
}

/// The URL with any password replaced, for logs and errors.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find('/')
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!(
                "{}{user}:***@{host}{}",
                &url[..authority_start],
                &url[authority_end..]
            )
        }
        _ => url.to_string(),
    }
}

/// The forge host and repository path (`owner/repo`, `group/sub/project`) a remote URL names:
/// `git@host:owner/repo.git`, `ssh://…` and `https://…`; none for local remotes or paths
/// holding anything but plain name characters.
pub fn web_location(url: &str) -> Option<(String, String)> {
    let (authority, path) = match url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("ssh://"))
    {
        Some(rest) => rest.split_once('/')?,
        None if url.contains("://") || url.starts_with(['/', '.']) => return None,
        None => url.split_once(':')?,
    };
    let host = authority.rsplit('@').next()?.split(':').next()?;
    let path = path.trim_matches('/').trim_end_matches(".git");
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b))
    };
    (plain(host) && plain(path) && path.contains('/') && !path.contains(".."))
        .then(|| (host.to_string(), path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(user: Option<&str>, host: &str, port: u16) -> Remote {
        Remote::Ssh {
            user: user.map(str::to_string),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn transports_hosts_ports_and_users() {
        assert_eq!(
            Remote::parse("git@github.com:acme/repo.git"),
            ssh(Some("git"), "github.com", 22)
        );
        assert_eq!(
            Remote::parse("ssh://root@127.0.0.1:2222/srv/r.git"),
            ssh(Some("root"), "127.0.0.1", 2222)
        );
        assert_eq!(
            Remote::parse("ssh://[::1]:2200/r.git"),
            ssh(None, "::1", 2200)
        );
        assert_eq!(Remote::parse("ssh://host/r.git"), ssh(None, "host", 22));
        assert_eq!(Remote::parse("https://github.com/acme/r.git"), Remote::Http);
        assert_eq!(Remote::parse("file:///srv/r.git"), Remote::Local);
        assert_eq!(Remote::parse("/srv/r.git"), Remote::Local);
        assert_eq!(Remote::parse("./r.git"), Remote::Local);
    }

    #[test]
    fn known_hosts_names_carry_non_default_ports() {
        assert_eq!(Remote::known_hosts_name("github.com", 22), "github.com");
        assert_eq!(
            Remote::known_hosts_name("127.0.0.1", 2222),
            "[127.0.0.1]:2222"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("https://bot:ghp_secret@github.com/a/b.git"),
            "https://bot:***@github.com/a/b.git"
        );
        assert_eq!(
            redact("https://bot@github.com/a/b.git"),
            "https://bot@github.com/a/b.git"
        );
        assert_eq!(redact("git@github.com:a/b.git"), "git@github.com:a/b.git");
    }
}
