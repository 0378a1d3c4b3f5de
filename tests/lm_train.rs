//! The language-model loop through the library: resuming from checkpoints is bit-identical.
//! Its own test binary (one process) because libtorch's dropout generator is process-global:
//! tests of other modules running in parallel threads would draw from it.

use harness::data::lm::{Corpus, Level};
use harness::store::MetricRow;
use harness::train::checkpoint;
use harness::train::language_model::{train, CheckpointPlan, LmOutcome, LmSettings};
use harness::train::lm_fixture::{self, Recorder};
use harness::train::Ending;
use std::sync::Mutex;
use tch::Device;

/// One training at a time in this process.
static SERIAL: Mutex<()> = Mutex::new(());

fn corpus() -> Corpus {
    lm_fixture::corpus(Level::Char)
}

/// Skip-retain (phase 1 = `phase1` steps), cross-head and dropout all drawing.
fn settings(max_steps: usize, phase1: u64) -> LmSettings {
    lm_fixture::settings(lm_fixture::skip_cross_head(phase1), max_steps)
}

/// Every metric row, bit for bit, in a fixed order.
fn rows(rows: &[MetricRow]) -> Vec<(i64, String, String, u64, Option<i64>)> {
    let mut v: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.step,
                r.split.clone(),
                r.name.clone(),
                r.value.to_bits(),
                r.phase,
            )
        })
        .collect();
    v.sort();
    v
}

/// Final evaluation results, bit for bit (train-split timings excluded).
fn finals(o: &LmOutcome) -> Vec<(String, String, u64)> {
    o.results
        .iter()
        .filter(|r| {
            r.split != "train"
                || r.name.starts_with("skip_fraction")
                || r.name.starts_with("params")
        })
        .map(|r| (r.split.clone(), r.name.clone(), r.value.to_bits()))
        .collect()
}

#[test]
fn a_killed_run_resumes_bit_identically_from_its_checkpoint() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let c = corpus();
    let mut straight_rec = Recorder::default();
    let straight = train(&settings(10, 8), &c, Device::Cpu, &mut straight_rec).unwrap();
    // The first step after the resume point skips layers: their parameters have no gradient
    // from that step, and must still move exactly as in the uninterrupted run.
    let skipped_at = |step: i64| {
        straight_rec
            .rows
            .iter()
            .find(|r| r.step == step && r.name == "skipped_layers")
            .unwrap()
            .value
    };
    assert!(skipped_at(7) > 0.0);

    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(10, 8);
    s.checkpoints = Some(CheckpointPlan {
        dir: dir.path().join("run"),
        every: Some(3),
    });
    // Killed after step 8: the checkpoint of step 6 survives, steps 7–8 are lost; the run
    // resumes inside phase 1.
    let mut rec = Recorder {
        kill_at: Some(8),
        ..Default::default()
    };
    assert!(train(&s, &c, Device::Cpu, &mut rec).is_err());
    assert!(dir.path().join("run").join(checkpoint::LATEST).is_file());
    assert!(!dir.path().join("run").join(checkpoint::PHASE1).exists());
    // Everything in memory is dropped; a fresh call resumes from step 5, across nothing but
    // the files.
    rec.kill_at = None;
    let resumed = train(&s, &c, Device::Cpu, &mut rec).unwrap();
    assert_eq!(rec.started_at, Some(6));
    assert!(dir.path().join("run").join(checkpoint::PHASE1).is_file());
    assert_eq!(
        (resumed.ending.clone(), resumed.resumed_from),
        (Ending::Completed, 6)
    );
    assert_eq!(finals(&resumed), finals(&straight));
    assert_eq!(
        rows(&rec.rows),
        rows(&straight_rec.rows),
        "no metric row lost, duplicated or changed"
    );
}

#[test]
fn ctrl_c_checkpoints_the_current_step_and_phase_two_starts_from_phase_one() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let c = corpus();
    let mut straight_rec = Recorder::default();
    let straight = train(&settings(8, 4), &c, Device::Cpu, &mut straight_rec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(8, 4);
    s.checkpoints = Some(CheckpointPlan {
        dir: dir.path().join("a"),
        every: None,
    });
    let mut rec = Recorder {
        stop_at: Some(6),
        ..Default::default()
    };
    let o = train(&s, &c, Device::Cpu, &mut rec).unwrap();
    assert_eq!((o.ending.clone(), o.steps), (Ending::Interrupted, 6));
    rec.stop_at = None;
    let resumed = train(&s, &c, Device::Cpu, &mut rec).unwrap();
    assert_eq!(resumed.resumed_from, 6);
    assert_eq!(finals(&resumed), finals(&straight));
    assert_eq!(rows(&rec.rows), rows(&straight_rec.rows));

    // Another run starts phase 2 from the saved end of phase 1 and ends where the
    // uninterrupted run did.
    let mut b = settings(8, 4);
    b.init_from = Some(dir.path().join("a").join(checkpoint::PHASE1));
    let mut rec = Recorder::default();
    let from_phase1 = train(&b, &c, Device::Cpu, &mut rec).unwrap();
    assert_eq!(from_phase1.resumed_from, 4);
    assert!(rec.rows.iter().all(|r| r.phase == Some(2) && r.step > 4));
    assert_eq!(finals(&from_phase1), finals(&straight));

    // A checkpoint of another model is refused, naming the file.
    let mut other = settings(8, 4);
    other.model.d_inner = 48;
    other.init_from = b.init_from.clone();
    let e = train(&other, &c, Device::Cpu, &mut Recorder::default())
        .err()
        .unwrap();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("phase1.ckpt") && msg.contains("another model"),
        "{msg}"
    );
}
