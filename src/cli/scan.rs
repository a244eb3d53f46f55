//! `laminar scan DIR`: list the references found under a directory, as text or JSON lines.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use super::{CliError, load_config};
use crate::config::Repo;
use crate::image::forms::Form;
use crate::image::scanner::Scanner;
use crate::image::walk::{DEFAULT_MAX_FILE_SIZE, FileRefs, scan_paths};

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Directory to scan (with --config: a checkout of the configured repos)
    pub dir: PathBuf,
    /// Registry prefix to look for (repeatable); the config is then not read
    #[arg(long = "registry", value_name = "PREFIX")]
    pub registries: Vec<String>,
    /// Only this configured repo's paths and rules
    #[arg(long, value_name = "NAME", conflicts_with = "registries")]
    pub repo: Option<String>,
    /// One JSON object per line
    #[arg(long)]
    pub json: bool,
    /// Also list the images found that are not managed, and why
    #[arg(long)]
    pub all: bool,
    /// Skip files larger than this many bytes
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FILE_SIZE)]
    pub max_file_size: u64,
}

/// One line of `--json` output; the field order is part of the interface.
#[derive(Serialize)]
struct Line<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    image: &'a str,
    tag: &'a str,
    digest: Option<&'a str>,
    rule: Option<&'a str>,
    form: &'a str,
}

/// One `--json --all` line for an image that is not managed.
#[derive(Serialize)]
struct UnmanagedLine<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    written: &'a str,
    form: &'a str,
    unmanaged: &'a str,
}

pub(super) fn run(args: &ScanArgs, config: Option<&Path>) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if !args.registries.is_empty() {
        let prefixes = args
            .registries
            .iter()
            .map(|p| crate::config::registry_prefix(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CliError::Usage)?;
        let scanner = Scanner::new(&prefixes).map_err(|e| CliError::Usage(e.to_string()))?;
        let scanner = widened(scanner, args.all);
        let files = scan_paths(
            &args.dir,
            &[PathBuf::from(".")],
            &scanner,
            args.max_file_size,
        )?;
        print(&mut out, &files, None, args)?;
        return Ok(out.flush()?);
    }
    let path = config.map_or_else(
        || PathBuf::from(crate::config::DEFAULT_PATH),
        Path::to_path_buf,
    );
    let config = load_config(&path)?.config;
    let scanner = config
        .scanner()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let scanner = widened(scanner, args.all);
    let repos: Vec<&Repo> = config
        .repos
        .iter()
        .filter(|r| args.repo.as_ref().is_none_or(|name| &r.name == name))
        .collect();
    if let (Some(name), true) = (&args.repo, repos.is_empty()) {
        return Err(CliError::Usage(format!(
            "no repo named {name:?} in {}",
            path.display()
        )));
    }
    for repo in repos {
        let files = scan_paths(&args.dir, &repo.scan_paths(), &scanner, args.max_file_size)?;
        print(&mut out, &files, Some(repo), args)?;
    }
    Ok(out.flush()?)
}

/// With `--all`, a scanner that also lists the images no registry covers.
fn widened(scanner: Scanner, all: bool) -> Scanner {
    match all {
        true => scanner.looking_at_everything(),
        false => scanner,
    }
}

fn print(
    out: &mut impl Write,
    files: &[FileRefs],
    repo: Option<&Repo>,
    args: &ScanArgs,
) -> io::Result<()> {
    let json = args.json;
    for file in files {
        let display = file.display_path();
        for r in &file.refs {
            let rule = repo
                .and_then(|repo| repo.rule_for(&file.path, &r.tag))
                .map(|rule| rule.policy.pattern.as_str());
            if json {
                let line = Line {
                    file: &display,
                    line: r.line,
                    column: r.column,
                    image: &r.image,
                    tag: &r.tag,
                    digest: r.digest.as_deref(),
                    rule,
                    form: r.form.as_str(),
                };
                json_line(out, &line)?;
            } else {
                write!(
                    out,
                    "{display}:{}:{}: {}:{}",
                    r.line, r.column, r.image, r.tag
                )?;
                if let Some(digest) = &r.digest {
                    write!(out, "@{digest}")?;
                }
                if r.form != Form::Inline {
                    write!(out, " ({})", r.form.as_str())?;
                }
                match rule {
                    Some(rule) => writeln!(out, " [{rule}]")?,
                    None => writeln!(out)?,
                }
            }
        }
        for u in file.unmanaged.iter().filter(|_| args.all) {
            if json {
                let line = UnmanagedLine {
                    file: &display,
                    line: u.line,
                    column: u.column,
                    written: &u.written,
                    form: u.form.as_str(),
                    unmanaged: &u.reason.to_string(),
                };
                json_line(out, &line)?;
            } else {
                writeln!(out, "{display}:{}:{}: {u}", u.line, u.column)?;
            }
        }
    }
    Ok(())
}

/// One JSON object and a newline.
fn json_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}
