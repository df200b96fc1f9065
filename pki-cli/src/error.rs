//! CLI errors: one sentence per cause, an exit code, never a stack trace.

use crate::output::Lang;

/// Exit codes of CONTRACT.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Everything valid / done.
    Ok = 0,
    /// A signature or certificate is invalid (TOTAL-FAILED).
    Invalid = 1,
    /// Usage error.
    Usage = 2,
    /// Operational error: unreadable file, token absent, wrong PIN, network.
    Operational = 3,
    /// Indeterminate with nothing invalid.
    Indeterminate = 4,
}

/// An error the CLI reports and exits with.
#[derive(Debug)]
pub struct CliError {
    exit: Exit,
    message: String,
    hint: Option<String>,
    causes: Vec<String>,
}

impl CliError {
    /// An operational error (exit 3).
    pub fn op(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Operational,
            message: message.into(),
            hint: None,
            causes: Vec::new(),
        }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            ..Self::op(message)
        }
    }

    /// Adds a hint line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// An operational error from any error, keeping its chain of causes.
    pub fn from_error(context: impl Into<String>, e: &(dyn std::error::Error + 'static)) -> Self {
        let mut err = Self::op(format!("{}: {e}", context.into()));
        let mut src = e.source();
        while let Some(s) = src {
            let text = s.to_string();
            if !err.message.contains(&text) {
                err.causes.push(text);
            }
            src = s.source();
        }
        err
    }

    /// The process exit code.
    pub fn exit_code(&self) -> Exit {
        self.exit
    }

    /// Prints the error to stderr.
    pub fn print(&self, lang: Lang) {
        let (error, because, hint) = match lang {
            Lang::Vi => ("lỗi", "vì", "gợi ý"),
            Lang::En => ("error", "because", "hint"),
        };
        eprintln!("{error}: {}", self.message);
        for c in &self.causes {
            eprintln!("  {because}: {c}");
        }
        if let Some(h) = &self.hint {
            eprintln!("  {hint}: {h}");
        }
    }
}

impl From<hsm::Error> for CliError {
    fn from(e: hsm::Error) -> Self {
        Self::from_error("key", &e)
    }
}

/// Result of a command: the exit code to return when it ran to the end.
pub type CmdResult = Result<Exit, CliError>;
