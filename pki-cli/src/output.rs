//! Output language and formats.

/// The language of messages and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Tiếng Việt.
    Vi,
    /// English.
    En,
}

impl Lang {
    /// From `LANG`/`LC_ALL`: Vietnamese when it starts with `vi`, else English.
    pub fn from_env() -> Self {
        for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Ok(v) = std::env::var(var) {
                if !v.is_empty() {
                    return if v.starts_with("vi") {
                        Lang::Vi
                    } else {
                        Lang::En
                    };
                }
            }
        }
        Lang::En
    }
}
