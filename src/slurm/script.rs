//! The sbatch script of a job array of workers: one `#SBATCH` line per option, then the worker's
//! command line. Pure text; nothing here runs anything.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Everything the script says. Paths are absolute (the script runs on another node, in another
/// directory).
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptSpec {
    /// What the script's first comment says it is for.
    pub description: String,
    /// `--job-name`: the name `harness slurm submit` later counts its workers by.
    pub job_name: String,
    /// Array tasks (workers), at least 1.
    pub tasks: usize,
    /// `%K` of `--array`: at most K tasks at once.
    pub max_parallel: Option<usize>,
    pub time: Option<String>,
    pub partition: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    /// Seconds before the time limit at which the batch shell (the worker) gets SIGUSR2.
    pub signal_before_s: u32,
    /// Per-task output files go here, named `<job name>_<array job id>_<task id>.out`.
    pub output_dir: PathBuf,
    /// `--chdir`: where relative paths of the spec resolve, as at submission.
    pub workdir: PathBuf,
    /// `LD_LIBRARY_PATH` of the job (empty: not set).
    pub library_path: Vec<PathBuf>,
    /// User lines appended after the generated `#SBATCH` lines (each already `#SBATCH ...`).
    pub extra_sbatch: Vec<String>,
    /// The worker's argv, the absolute path of the harness binary first.
    pub command: Vec<String>,
}

/// The signal a worker checkpoints and releases its run on before the time limit.
pub const SIGNAL: &str = "USR2";

/// The script text.
pub fn render(s: &ScriptSpec) -> String {
    let mut out = String::new();
    let o = &mut out;
    o.push_str("#!/bin/bash\n");
    for line in s.description.lines() {
        let _ = writeln!(o, "# {line}");
    }
    o.push_str(
        "# Each array task runs one `harness worker`, which claims queued runs from the database until\n\
         # none is left. The queue lives in the database: a task that is preempted, requeued or timed\n\
         # out loses nothing (its run goes back to the queue when the worker releases it on the signal\n\
         # below, or when its lease expires). `harness slurm submit` again tops the workers up.\n",
    );
    let array = match s.max_parallel {
        Some(k) => format!("0-{}%{k}", s.tasks.saturating_sub(1)),
        None => format!("0-{}", s.tasks.saturating_sub(1)),
    };
    let output = format!("{}/%x_%A_%a.out", escape_filename_pattern(&s.output_dir));
    let mut sb = |opt: &str, value: &str| {
        let _ = writeln!(o, "#SBATCH --{opt}={}", sbatch_quote(value));
    };
    sb("job-name", &s.job_name);
    sb("array", &array);
    sb("ntasks", "1");
    sb("output", &output);
    // A requeued task appends to its file instead of truncating what the earlier attempt wrote.
    sb("open-mode", "append");
    sb("chdir", &s.workdir.to_string_lossy());
    // B: the batch shell, which `exec`s the worker; Slurm sends no signal to it otherwise.
    sb("signal", &format!("B:{SIGNAL}@{}", s.signal_before_s));
    o.push_str("#SBATCH --requeue\n");
    let mut sb = |opt: &str, value: &Option<String>| {
        if let Some(v) = value {
            let _ = writeln!(o, "#SBATCH --{opt}={}", sbatch_quote(v));
        }
    };
    sb("time", &s.time);
    sb("partition", &s.partition);
    sb("cpus-per-task", &s.cpus_per_task.map(|n| n.to_string()));
    sb("gpus-per-task", &s.gpus_per_task.map(|n| n.to_string()));
    sb("mem", &s.mem);
    for line in &s.extra_sbatch {
        let _ = writeln!(o, "{line}");
    }
    o.push_str("set -eu\n");
    if !s.library_path.is_empty() {
        let joined: Vec<String> = s
            .library_path
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let _ = writeln!(o, "export LD_LIBRARY_PATH={}", sh_quote(&joined.join(":")));
    }
    o.push_str(
        "echo \"harness worker: Slurm job ${SLURM_JOB_ID} (array ${SLURM_ARRAY_JOB_ID:-}_${SLURM_ARRAY_TASK_ID:-}) \
         on $(hostname), restart ${SLURM_RESTART_COUNT:-0}, $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n",
    );
    let argv: Vec<String> = s.command.iter().map(|a| sh_quote(a)).collect();
    let _ = writeln!(o, "exec {}", argv.join(" "));
    out
}

/// One `--extra-sbatch` value as script lines: each non-empty line is an sbatch option (`--qos=x`,
/// `-A proj`, or a whole `#SBATCH ...` line).
pub fn extra_lines(value: &str) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    for line in value.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("#SBATCH") {
            lines.push(line.to_string());
        } else if line.starts_with('-') {
            lines.push(format!("#SBATCH {line}"));
        } else {
            return Err(format!(
                "--extra-sbatch `{line}` is not an sbatch option: give options as on sbatch's \
                 command line, e.g. --extra-sbatch '--qos=high --account=myproj'"
            ));
        }
    }
    Ok(lines)
}

/// A value as sbatch reads it on an `#SBATCH` line: bare when it has no blank, quote, backslash
/// or `#` (which would start a comment), else in double quotes with `"` and `\` escaped.
pub fn sbatch_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '#'));
    if plain {
        return value.to_string();
    }
    let mut q = String::from("\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// A word for bash: bare when it has only safe characters, else in single quotes.
pub fn sh_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A directory inside an sbatch filename pattern: a literal `%` is `%%`.
fn escape_filename_pattern(dir: &Path) -> String {
    dir.to_string_lossy().replace('%', "%%")
}

/// Seconds in a Slurm time limit (`M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`); `None` for
/// `UNLIMITED`/`INFINITE`.
pub fn parse_time_limit(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinite") {
        return Ok(None);
    }
    let bad = || {
        format!(
            "--time `{text}` is not a Slurm time limit: use minutes (90), M:S, H:M:S, D-H, \
             D-H:M or D-H:M:S (e.g. 2:00:00 or 1-12)"
        )
    };
    let num = |s: &str| -> Result<u64, String> {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<u64>().map_err(|_| bad())
    };
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (Some(num(d)?), rest),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let seconds = match (days, parts.as_slice()) {
        (None, [m]) => num(m)? * 60,
        (None, [m, s]) => num(m)? * 60 + num(s)?,
        (None, [h, m, s]) => num(h)? * 3600 + num(m)? * 60 + num(s)?,
        (Some(d), [h]) => d * 86400 + num(h)? * 3600,
        (Some(d), [h, m]) => d * 86400 + num(h)? * 3600 + num(m)? * 60,
        (Some(d), [h, m, s]) => d * 86400 + num(h)? * 3600 + num(m)? * 60 + num(s)?,
        _ => return Err(bad()),
    };
    Ok(Some(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ScriptSpec {
        ScriptSpec {
            description: "harness workers for `grid`".into(),
            job_name: "harness-grid-0a1b2c".into(),
            tasks: 3,
            max_parallel: None,
            time: None,
            partition: None,
            gpus_per_task: None,
            cpus_per_task: None,
            mem: None,
            signal_before_s: 120,
            output_dir: "/scratch/logs".into(),
            workdir: "/home/u/proj".into(),
            library_path: vec![],
            extra_sbatch: vec![],
            command: vec![
                "/opt/harness/bin/harness".into(),
                "worker".into(),
                "grid".into(),
                "--db".into(),
                "postgres://u@db:5432/r".into(),
            ],
        }
    }

    fn sbatch_lines(script: &str) -> Vec<&str> {
        script
            .lines()
            .filter(|l| l.starts_with("#SBATCH"))
            .collect()
    }

    #[test]
    fn the_defaults_are_an_array_with_signal_requeue_and_per_task_output() {
        let text = render(&spec());
        assert!(text.starts_with("#!/bin/bash\n# harness workers for `grid`\n"));
        assert_eq!(
            sbatch_lines(&text),
            [
                "#SBATCH --job-name=harness-grid-0a1b2c",
                "#SBATCH --array=0-2",
                "#SBATCH --ntasks=1",
                "#SBATCH --output=/scratch/logs/%x_%A_%a.out",
                "#SBATCH --open-mode=append",
                "#SBATCH --chdir=/home/u/proj",
                "#SBATCH --signal=B:USR2@120",
                "#SBATCH --requeue",
            ]
        );
        assert!(!text.contains("LD_LIBRARY_PATH"), "{text}");
        assert!(text
            .ends_with("exec /opt/harness/bin/harness worker grid --db postgres://u@db:5432/r\n"));
    }

    #[test]
    fn each_option_maps_to_its_sbatch_line() {
        let mut s = spec();
        s.tasks = 8;
        s.max_parallel = Some(2);
        s.time = Some("1-02:00:00".into());
        s.partition = Some("gpu".into());
        s.gpus_per_task = Some(1);
        s.cpus_per_task = Some(6);
        s.mem = Some("32G".into());
        s.signal_before_s = 300;
        let text = render(&s);
        let lines = sbatch_lines(&text);
        for want in [
            "#SBATCH --array=0-7%2",
            "#SBATCH --time=1-02:00:00",
            "#SBATCH --partition=gpu",
            "#SBATCH --gpus-per-task=1",
            "#SBATCH --cpus-per-task=6",
            "#SBATCH --mem=32G",
            "#SBATCH --signal=B:USR2@300",
        ] {
            assert!(lines.contains(&want), "{want} missing from\n{text}");
        }
        assert_eq!(lines.len(), 8 + 5);
    }

    #[test]
    fn extra_sbatch_lines_come_after_the_generated_ones_and_before_any_command() {
        let mut s = spec();
        s.extra_sbatch = extra_lines("--qos=high --account=proj\n\n#SBATCH --exclusive\n")
            .unwrap()
            .into_iter()
            .chain(extra_lines("-C v100").unwrap())
            .collect();
        let text = render(&s);
        let lines: Vec<&str> = text.lines().collect();
        let requeue = lines
            .iter()
            .position(|l| *l == "#SBATCH --requeue")
            .unwrap();
        assert_eq!(
            &lines[requeue + 1..requeue + 4],
            [
                "#SBATCH --qos=high --account=proj",
                "#SBATCH --exclusive",
                "#SBATCH -C v100"
            ]
        );
        assert_eq!(lines[requeue + 4], "set -eu");
        let err = extra_lines("qos=high").unwrap_err();
        assert!(err.contains("not an sbatch option"), "{err}");
    }

    #[test]
    fn paths_with_spaces_are_quoted_for_sbatch_and_for_bash() {
        let mut s = spec();
        s.output_dir = "/scratch/my logs/100%".into();
        s.workdir = "/home/u/my \"proj\"".into();
        s.library_path = vec!["/opt/lib torch/lib".into(), "/usr/local/cuda/lib64".into()];
        s.command[0] = "/opt/it's here/harness".into();
        let text = render(&s);
        let lines = sbatch_lines(&text);
        assert!(
            lines.contains(&r#"#SBATCH --output="/scratch/my logs/100%%/%x_%A_%a.out""#),
            "{text}"
        );
        assert!(
            lines.contains(&r#"#SBATCH --chdir="/home/u/my \"proj\"""#),
            "{text}"
        );
        assert!(
            text.contains("\nexport LD_LIBRARY_PATH='/opt/lib torch/lib:/usr/local/cuda/lib64'\n")
        );
        assert!(text.contains(
            "\nexec '/opt/it'\\''s here/harness' worker grid --db postgres://u@db:5432/r\n"
        ));
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(sbatch_quote("plain-1"), "plain-1");
        assert_eq!(sbatch_quote("a#b"), "\"a#b\"");
        assert_eq!(sbatch_quote(r"a\b"), r#""a\\b""#);
        assert_eq!(sbatch_quote(""), "\"\"");
        assert_eq!(sh_quote("--db"), "--db");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("$HOME"), "'$HOME'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn slurm_time_limits() {
        assert_eq!(parse_time_limit("90"), Ok(Some(5400)));
        assert_eq!(parse_time_limit("5:30"), Ok(Some(330)));
        assert_eq!(parse_time_limit("2:00:00"), Ok(Some(7200)));
        assert_eq!(parse_time_limit("1-12"), Ok(Some(129_600)));
        assert_eq!(parse_time_limit("1-0:30"), Ok(Some(88_200)));
        assert_eq!(parse_time_limit("2-01:02:03"), Ok(Some(176_523)));
        assert_eq!(parse_time_limit("UNLIMITED"), Ok(None));
        for bad in ["", "1h", "1:2:3:4", "-5", "1-", "a:b"] {
            assert!(parse_time_limit(bad).is_err(), "{bad}");
        }
    }
}
