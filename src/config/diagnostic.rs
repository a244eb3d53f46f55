//! Located config problems: `laminar.yaml:14:7: unknown key "pollfreq" (did you mean "pollFreq"?)`.

use std::fmt;
use std::path::PathBuf;

use super::yaml::Pos;

/// One problem at one place in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub pos: Pos,
    pub message: String,
}

/// Problems found in one file, each printed on its own line with the file name in front.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub file: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:", self.file.display())?;
            if d.pos.line > 0 {
                write!(f, "{}:{}:", d.pos.line, d.pos.column)?;
            }
            write!(f, " {}", d.message)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found, not only the first.
    #[error("{0}")]
    Invalid(Located),
}
