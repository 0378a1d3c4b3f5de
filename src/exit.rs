//! Exit codes, the same for every command, and how an error is printed.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (`check`: every expectation holds) |
//! | 1 | a run-time failure: a failed run, missing data or model, a results database that cannot be opened, read or written, an operating-system error (a full disk) |
//! | 2 | bad input: the spec or a `--set`, command-line arguments, an experiment the database does not hold, `check`'s expected file |
//! | 3 | `check` only: a value moved beyond its tolerance, or an expected run is missing or not done |
//! | 130 | interrupted (SIGINT, SIGTERM, SIGUSR2) |

use crate::check::CheckError;
use crate::spec::SpecError;
use crate::store::StoreError;

pub const SUCCESS: u8 = 0;
pub const FAILURE: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const REGRESSION: u8 = 3;
pub const INTERRUPTED: u8 = 130;

/// The exit code of a command that failed with `e` (see the module table).
pub fn code_of(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.downcast_ref::<SpecError>().is_some() {
            return BAD_INPUT;
        }
        if let Some(StoreError::UnknownExperiment(_)) = cause.downcast_ref::<StoreError>() {
            return BAD_INPUT;
        }
        if let Some(c) = cause.downcast_ref::<CheckError>() {
            return c.exit_code();
        }
    }
    FAILURE
}

/// `e`, said with the database it concerns where a store error's message does not name it.
pub fn with_database(e: anyhow::Error, db: &std::path::Path) -> anyhow::Error {
    let shown = crate::store::display_db(db);
    let from_store = e.chain().any(|c| c.downcast_ref::<StoreError>().is_some());
    if from_store && !render(&e).contains(&shown) {
        e.context(format!("results database {shown}"))
    } else {
        e
    }
}

/// `e` and its causes, each said once: a cause whose text its parent already includes (as
/// database and I/O errors often do) is not repeated.
pub fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("could not open {path}: {source}")]
    struct Outer {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let inner = std::io::Error::other("unable to open database file");
        let e = anyhow::Error::new(Outer {
            path: "x.db".into(),
            source: inner,
        })
        .context("run experiments/a.yaml");
        assert_eq!(
            render(&e),
            "run experiments/a.yaml: could not open x.db: unable to open database file"
        );
    }

    #[test]
    fn codes_follow_the_table() {
        let unknown = anyhow::Error::new(StoreError::UnknownExperiment("nope".into()));
        assert_eq!(code_of(&unknown), BAD_INPUT);
        assert_eq!(code_of(&anyhow::anyhow!("a run failed")), FAILURE);
        let no_db = anyhow::Error::new(CheckError::Store(
            crate::analysis::load::ReadError::NoDatabase("x.db".into()),
        ));
        assert_eq!(code_of(&no_db), FAILURE);
    }
}
