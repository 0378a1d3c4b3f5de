//! How many workers to submit: what the store says is left, less the workers Slurm already has
//! pending or running for it. Pure arithmetic and parsing of Slurm's answers.

use std::fmt;

/// Runs of one experiment that still need a worker, from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Waiting to be claimed.
    pub queued: u64,
    /// Claimed by a worker (or abandoned by one whose lease will expire and put them back).
    pub running: u64,
}

impl Backlog {
    pub fn unfinished(&self) -> u64 {
        self.queued + self.running
    }
}

/// The decision of one `harness slurm submit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopUp {
    /// `--workers`.
    pub wanted: usize,
    pub backlog: Backlog,
    /// Array tasks of this experiment pending or running in Slurm.
    pub active: usize,
    /// Workers to submit now.
    pub submit: usize,
}

/// Aim for `wanted` workers but never more than there are unfinished runs (a worker without a run
/// exits at once); submit what the active ones do not already cover.
pub fn plan(wanted: usize, backlog: Backlog, active: usize) -> TopUp {
    let useful = usize::try_from(backlog.unfinished()).unwrap_or(usize::MAX);
    let target = wanted.min(useful);
    TopUp {
        wanted,
        backlog,
        active,
        submit: target.saturating_sub(active),
    }
}

impl fmt::Display for TopUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.backlog;
        write!(
            f,
            "{} unfinished runs ({} queued, {} running), {} worker{} pending or running in Slurm, \
             {} wanted",
            b.unfinished(),
            b.queued,
            b.running,
            self.active,
            if self.active == 1 { "" } else { "s" },
            self.wanted
        )
    }
}

/// The job id in `sbatch --parsable`'s answer (`ID` or `ID;CLUSTER`).
pub fn parse_job_id(stdout: &str) -> Option<String> {
    let first = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    let id = first.split(';').next()?.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| id.to_string())
}

/// Array tasks in `squeue --array --noheader --format=%i` output (one line per task).
pub fn count_tasks(squeue_stdout: &str) -> usize {
    squeue_stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backlog(queued: u64, running: u64) -> Backlog {
        Backlog { queued, running }
    }

    #[test]
    fn a_first_submit_asks_for_the_workers_wanted() {
        assert_eq!(plan(3, backlog(12, 0), 0).submit, 3);
    }

    #[test]
    fn never_more_workers_than_unfinished_runs() {
        assert_eq!(plan(8, backlog(2, 1), 0).submit, 3);
        assert_eq!(plan(8, backlog(0, 0), 0).submit, 0);
    }

    #[test]
    fn a_top_up_submits_only_the_difference() {
        // Two of three workers still there (one timed out and released its run).
        assert_eq!(plan(3, backlog(4, 2), 2).submit, 1);
        // All there: nothing to do.
        assert_eq!(plan(3, backlog(4, 3), 3).submit, 0);
        // More active than wanted or useful: nothing, never negative.
        assert_eq!(plan(2, backlog(1, 0), 5).submit, 0);
        // Raising --workers on a later submit adds the new ones.
        assert_eq!(plan(6, backlog(10, 3), 3).submit, 3);
    }

    #[test]
    fn nothing_left_means_nothing_to_do() {
        let t = plan(3, backlog(0, 0), 0);
        assert_eq!(t.submit, 0);
        assert_eq!(
            t.to_string(),
            "0 unfinished runs (0 queued, 0 running), 0 workers pending or running in Slurm, 3 wanted"
        );
    }

    #[test]
    fn sbatch_parsable_answers() {
        assert_eq!(parse_job_id("4242\n").as_deref(), Some("4242"));
        assert_eq!(parse_job_id("4242;cluster-a\n").as_deref(), Some("4242"));
        assert_eq!(parse_job_id("\n17\n").as_deref(), Some("17"));
        assert_eq!(parse_job_id("Submitted batch job 5"), None);
        assert_eq!(parse_job_id(""), None);
    }

    #[test]
    fn squeue_lines_are_tasks() {
        assert_eq!(count_tasks("12_0\n12_1\n13_0\n"), 3);
        assert_eq!(count_tasks("\n"), 0);
        assert_eq!(count_tasks(""), 0);
    }
}
