//! How a training run talks to the store while it trains: the lease heartbeat, and the
//! observer that writes metrics and checkpoints under the lease and shows progress.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use indicatif::ProgressBar;
use tokio::runtime::Runtime;

use super::signals::stop_requested;
use crate::store::{Lease, MetricRow, Store, StoreError};
use crate::train::checkpoint::CheckpointOwner;
use crate::train::finetune::Observer;
use crate::train::language_model::LmObserver;

/// Renews the lease of the current run on its own timer (a tokio task on the runtime's worker
/// thread, so it runs while the main thread trains).
pub(super) struct Heartbeat {
    current: Arc<Mutex<Option<Lease>>>,
    lost: Arc<AtomicBool>,
}

impl Heartbeat {
    pub(super) fn start(rt: &Runtime, store: Arc<Store>, lease: Duration) -> Heartbeat {
        let current: Arc<Mutex<Option<Lease>>> = Arc::new(Mutex::new(None));
        let lost = Arc::new(AtomicBool::new(false));
        let (c, l) = (current.clone(), lost.clone());
        let every = (lease / 4).max(Duration::from_millis(50));
        rt.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let held = c.lock().expect("heartbeat lock").clone();
                let Some(held) = held else { continue };
                match store.renew(&held, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Only if the run is still the current one.
                        if c.lock().expect("heartbeat lock").as_ref() == Some(&held) {
                            l.store(true, Ordering::SeqCst);
                        }
                    }
                    Err(e) => eprintln!(
                        "warning: could not renew the lease of run {}: {e}; retrying",
                        held.key
                    ),
                }
            }
        });
        Heartbeat { current, lost }
    }

    pub(super) fn hold(&self, lease: Option<Lease>) {
        self.lost.store(false, Ordering::SeqCst);
        *self.current.lock().expect("heartbeat lock") = lease;
    }

    pub(super) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

pub(super) struct StoreObserver<'a> {
    pub(super) rt: &'a Runtime,
    pub(super) store: &'a Store,
    pub(super) lease: &'a Lease,
    pub(super) heartbeat: &'a Heartbeat,
    pub(super) owner: Option<CheckpointOwner>,
    pub(super) buffer: Vec<MetricRow>,
    pub(super) bar: &'a ProgressBar,
    pub(super) last_dev: String,
}

impl StoreObserver<'_> {
    fn lost(&self) -> StoreError {
        StoreError::LostLease {
            key: self.lease.key.clone(),
            attempt: self.lease.attempt,
        }
    }
}

impl Observer for StoreObserver<'_> {
    fn on_step(&mut self, step: i64, total: i64, loss: f64) {
        self.bar.set_length(total as u64);
        self.bar.set_position(step as u64);
        self.bar
            .set_message(format!("train loss {loss:.4}{}", self.last_dev));
    }

    fn on_metrics(&mut self, rows: Vec<MetricRow>, flush: bool) -> Result<()> {
        if self.heartbeat.is_lost() {
            return Err(self.lost().into());
        }
        let dev: Vec<String> = rows
            .iter()
            .filter(|r| r.split != "train" && r.name != "loss")
            .map(|r| format!("{} {} {:.4}", r.split, r.name, r.value))
            .collect();
        if !dev.is_empty() {
            self.last_dev = format!(" | {}", dev.join(", "));
        }
        self.buffer.extend(rows);
        // A flush always goes to the store, empty or not: it is the fence before a checkpoint.
        if flush || self.buffer.len() >= 256 {
            let rows = std::mem::take(&mut self.buffer);
            self.rt
                .block_on(self.store.write_metrics(self.lease, &rows))?;
        }
        Ok(())
    }

    fn interrupted(&self) -> bool {
        stop_requested()
    }
}

impl LmObserver for StoreObserver<'_> {
    fn on_start(&mut self, step: i64, total: i64) -> Result<()> {
        self.rt
            .block_on(self.store.delete_metrics_after(self.lease, step))?;
        self.bar.set_length(total as u64);
        self.bar.set_position(step as u64);
        Ok(())
    }

    fn on_step(&mut self, step: i64, total: i64, loss: f64, phase: i64) {
        self.bar.set_length(total as u64);
        self.bar.set_position(step as u64);
        self.bar.set_message(format!(
            "phase {phase} train loss {loss:.4}{}",
            self.last_dev
        ));
    }

    fn on_metrics(&mut self, rows: Vec<MetricRow>, flush: bool) -> Result<()> {
        Observer::on_metrics(self, rows, flush)
    }

    fn interrupted(&self) -> bool {
        stop_requested()
    }

    fn checkpoint_owner(&self) -> Option<CheckpointOwner> {
        self.owner.clone()
    }

    fn on_checkpoint(&mut self, step: i64) -> Result<()> {
        self.rt
            .block_on(self.store.record_checkpoint(self.lease, step))?;
        Ok(())
    }
}
