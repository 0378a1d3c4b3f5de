//! Where results were computed: the facts of the machine that decide the last bits of float
//! results (CPU model, the ISA level of libtorch's kernels, libtorch's version, threads, device,
//! kernel-selecting environment variables). The expected file keeps them under `recorded_on`;
//! a failed check whose runs ran elsewhere says so next to the diff.

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

/// Distinct values in order of first appearance, joined by ` | `.
fn joined(values: impl Iterator<Item = Option<String>>) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for v in values.flatten() {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    (!seen.is_empty()).then(|| seen.join(" | "))
}

impl RecordedOn {
    /// The environment of a set of runs, from the JSON each run stored when it started.
    pub fn of_runs<'a>(environments: impl IntoIterator<Item = &'a str>) -> RecordedOn {
        let docs: Vec<serde_json::Value> = environments
            .into_iter()
            .filter_map(|e| serde_json::from_str(e).ok())
            .collect();
        let text = |field: &str| {
            joined(docs.iter().map(|d| match &d[field] {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }))
        };
        let kernel_env = joined(docs.iter().map(|d| {
            let vars = d["kernel_env"].as_object()?;
            let parts: Vec<String> = vars
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }));
        RecordedOn {
            cpu: text("cpu"),
            cpu_capability: text("cpu_capability"),
            libtorch: text("libtorch"),
            threads: text("threads"),
            device: text("device"),
            kernel_env,
        }
    }

    /// `cpu_capability AVX512 → AVX2` for every field that differs (unknown on either side is
    /// not a difference, except for kernel variables, which are absent when none was set).
    pub fn differences(&self, now: &RecordedOn) -> Vec<String> {
        let pairs = [
            ("cpu", &self.cpu, &now.cpu),
            ("cpu_capability", &self.cpu_capability, &now.cpu_capability),
            ("libtorch", &self.libtorch, &now.libtorch),
            ("threads", &self.threads, &now.threads),
            ("device", &self.device, &now.device),
        ];
        let mut out: Vec<String> = pairs
            .into_iter()
            .filter_map(|(name, a, b)| match (a, b) {
                (Some(a), Some(b)) if a != b => Some(format!("{name} {a} → {b}")),
                _ => None,
            })
            .collect();
        if self.kernel_env != now.kernel_env {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none set)".into());
            out.push(format!(
                "kernel_env {} → {}",
                show(&self.kernel_env),
                show(&now.kernel_env)
            ));
        }
        out
    }

    /// `AMD EPYC, kernels AVX512, libtorch 2.11.0+cu130, 1 thread, cpu`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.cpu {
            parts.push(c.clone());
        }
        if let Some(c) = &self.cpu_capability {
            parts.push(format!("kernels {c}"));
        }
        if let Some(l) = &self.libtorch {
            parts.push(format!("libtorch {l}"));
        }
        if let Some(t) = &self.threads {
            parts.push(format!("{t} thread{}", if t == "1" { "" } else { "s" }));
        }
        if let Some(d) = &self.device {
            parts.push(d.clone());
        }
        if let Some(k) = &self.kernel_env {
            parts.push(k.clone());
        }
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

    #[test]
    fn runs_on_one_machine_give_one_value_per_field() {
        let env = RecordedOn::of_runs([AVX512, AVX512]);
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
        let recorded = RecordedOn::of_runs([AVX512]);
        let now = RecordedOn::of_runs([AVX2]);
        assert_eq!(
            recorded.differences(&now),
            vec![
                "cpu_capability AVX512 → AVX2".to_string(),
                "kernel_env (none set) → ATEN_CPU_CAPABILITY=avx2".to_string()
            ]
        );
        // Runs that disagree list both values.
        let mixed = RecordedOn::of_runs([AVX512, AVX2]);
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
