//! Command implementations, one module per command group.

pub mod demo;
pub mod token;

use crate::args::Command;
use crate::error::CmdResult;
use crate::output::Lang;

/// Runs a parsed command.
pub fn run(cmd: Command, lang: Lang) -> CmdResult {
    match cmd {
        Command::Demo(a) => demo::run(a, lang),
        Command::Token(a) => token::run(a, lang),
    }
}
