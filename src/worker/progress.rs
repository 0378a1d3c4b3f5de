//! What the worker shows while it works: the grid's bar (when `harness run` says how big the
//! grid is), the current run's bar, and lines printed above both.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The style of the grid's progress bar, in this process and over worker processes alike.
pub(crate) fn grid_bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "grid {bar:30.cyan/blue} {pos}/{len} runs  {elapsed_precise} (eta {eta})  {msg}",
    )
    .expect("valid template")
}

/// The worker's bars on stderr (hidden with `--quiet`).
pub struct Bars {
    multi: MultiProgress,
    grid: Option<ProgressBar>,
    /// Steps of the run in progress.
    pub run: ProgressBar,
}

impl Bars {
    /// `grid`: the grid's total runs and those already finished.
    pub fn new(quiet: bool, grid: Option<(u64, u64)>) -> Bars {
        let multi = MultiProgress::with_draw_target(if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let grid = grid.map(|(total, finished)| {
            let bar = multi.add(ProgressBar::new(total));
            bar.set_style(grid_bar_style());
            bar.set_position(finished);
            bar
        });
        let run = multi.add(ProgressBar::new(1));
        run.set_style(
            ProgressStyle::with_template(
                "run  {bar:30.green/white} {pos}/{len} steps {per_sec}  {prefix} {msg}",
            )
            .expect("valid template"),
        );
        Bars { multi, grid, run }
    }

    /// Prints `line` above the bars.
    pub fn say(&self, line: String) {
        self.multi.suspend(|| eprintln!("{line}"));
    }

    /// Counts a finished run and prints its line, `[i/n]` first when the grid is known.
    pub fn finished(&self, line: String) {
        match &self.grid {
            Some(bar) => {
                bar.inc(1);
                self.say(format!(
                    "[{}/{}] {line}",
                    bar.position(),
                    bar.length().unwrap_or(0)
                ));
            }
            None => self.say(line),
        }
    }

    pub fn clear(&self) {
        self.run.finish_and_clear();
        if let Some(bar) = &self.grid {
            bar.finish_and_clear();
        }
    }
}
