//! Where results were computed: the facts of the machine that decide the last bits of float
//! results (CPU model, the ISA level of libtorch's kernels, libtorch's version, threads, device,
//! kernel-selecting environment variables). The expected file keeps them under `recorded_on`;
//! a failed check whose runs ran elsewhere says so next to the diff.

use crate::environment::Environment;
use serde::{Deserialize, Deserializer, Serialize};

/// One value per field; where the runs disagree, their distinct values joined by ` | `.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedOn {
    #[serde(default)]
    pub cpu: Option<String>,
    /// ATen's dispatch level: `AVX512`, `AVX2` or `DEFAULT`.
    #[serde(default)]
    pub cpu_capability: Option<String>,
    #[serde(default)]
    pub libtorch: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub threads: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
    /// `NAME=value` of the kernel variables that were set, comma-separated.
    #[serde(default)]
    pub kernel_env: Option<String>,
}

fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
    }
    Ok(Option::<Scalar>::deserialize(d)?.map(|v| match v {
        Scalar::Text(s) => s,
        Scalar::Int(i) => i.to_string(),
    }))
}

impl RecordedOn {
    /// The environment of a set of runs: per field, the distinct values in order of first
    /// appearance.
    pub fn of_runs<'a>(environments: impl IntoIterator<Item = &'a Environment>) -> RecordedOn {
        let envs: Vec<&Environment> = environments.into_iter().collect();
        let joined = |field: fn(&Environment) -> Option<String>| {
            let mut seen: Vec<String> = Vec::new();
            for v in envs.iter().filter_map(|e| field(e)) {
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            (!seen.is_empty()).then(|| seen.join(" | "))
        };
        RecordedOn {
            cpu: joined(|e| e.cpu.clone()),
            cpu_capability: joined(|e| e.cpu_capability.clone()),
            libtorch: joined(|e| e.libtorch.clone()),
            threads: joined(|e| e.threads.map(|t| t.to_string())),
            device: joined(|e| e.device.clone()),
            kernel_env: joined(|e| {
                let vars: Vec<String> = e
                    .kernel_env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                (!vars.is_empty()).then(|| vars.join(", "))
            }),
        }
    }

    fn fields(&self) -> [(&'static str, &Option<String>); 6] {
        [
            ("cpu", &self.cpu),
            ("cpu_capability", &self.cpu_capability),
            ("libtorch", &self.libtorch),
            ("threads", &self.threads),
            ("device", &self.device),
            ("kernel_env", &self.kernel_env),
        ]
    }

    /// `cpu_capability AVX512 → AVX2` for every field that differs (unknown on either side is
    /// not a difference, except for kernel variables, which are absent when none was set).
    pub fn differences(&self, now: &RecordedOn) -> Vec<String> {
        let none_set = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none set)".into());
        (self.fields().into_iter().zip(now.fields()))
            .filter_map(|((name, a), (_, b))| match (a, b) {
                _ if name == "kernel_env" => {
                    (a != b).then(|| format!("kernel_env {} → {}", none_set(a), none_set(b)))
                }
                (Some(a), Some(b)) if a != b => Some(format!("{name} {a} → {b}")),
                _ => None,
            })
            .collect()
    }

    /// `AMD EPYC, kernels AVX512, libtorch 2.11.0+cu130, 1 thread, cpu`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = (self.fields().into_iter())
            .filter_map(|(name, v)| {
                let v = v.as_deref()?;
                Some(match name {
                    "cpu_capability" => format!("kernels {v}"),
                    "libtorch" => format!("libtorch {v}"),
                    "threads" => format!("{v} thread{}", if v == "1" { "" } else { "s" }),
                    _ => v.to_string(),
                })
            })
            .collect();
        if parts.is_empty() {
            "an unknown machine".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AVX512: &str = r#"{"cpu":"AMD EPYC","threads":1,"libtorch":"2.11.0+cu130","cpu_capability":"AVX512","device":"cpu"}"#;
    const AVX2: &str = r#"{"cpu":"AMD EPYC","threads":1,"libtorch":"2.11.0+cu130","cpu_capability":"AVX2","kernel_env":{"ATEN_CPU_CAPABILITY":"avx2"},"device":"cpu"}"#;

    fn of(jsons: &[&str]) -> RecordedOn {
        let envs: Vec<Environment> = jsons
            .iter()
            .map(|j| serde_json::from_str(j).unwrap())
            .collect();
        RecordedOn::of_runs(&envs)
    }

    #[test]
    fn runs_on_one_machine_give_one_value_per_field() {
        let env = of(&[AVX512, AVX512]);
        assert_eq!(env.cpu.as_deref(), Some("AMD EPYC"));
        assert_eq!(env.threads.as_deref(), Some("1"));
        assert_eq!(env.kernel_env, None);
        assert_eq!(
            env.describe(),
            "AMD EPYC, kernels AVX512, libtorch 2.11.0+cu130, 1 thread, cpu"
        );
        assert!(env.differences(&env).is_empty());
    }

    #[test]
    fn another_kernel_level_is_named() {
        let recorded = of(&[AVX512]);
        let now = of(&[AVX2]);
        assert_eq!(
            recorded.differences(&now),
            vec![
                "cpu_capability AVX512 → AVX2".to_string(),
                "kernel_env (none set) → ATEN_CPU_CAPABILITY=avx2".to_string()
            ]
        );
        // Runs that disagree list both values.
        let mixed = of(&[AVX512, AVX2]);
        assert_eq!(mixed.cpu_capability.as_deref(), Some("AVX512 | AVX2"));
    }

    #[test]
    fn threads_read_as_number_or_text() {
        let a: RecordedOn = serde_yaml::from_str("threads: 2\ncpu: x").unwrap();
        let b: RecordedOn = serde_yaml::from_str("threads: \"2\"\ncpu: x").unwrap();
        assert_eq!(a, b);
        assert!(serde_yaml::from_str::<RecordedOn>("gpu: x").is_err());
    }
}
