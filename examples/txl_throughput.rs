//! Transformer-XL training throughput of `harness` on random tokens, the shapes
//! `bench/txl_throughput.sh` gives the PyTorch reference, so that the two numbers compare the
//! training step and nothing else (Adam, gradient clipping, memory carried across segments).
//!
//! `cargo run --release --example txl_throughput -- [--n-layer 12] [--d-model 512] [--n-head 8]
//!  [--d-head 64] [--d-inner 2048] [--n-token 204] [--tgt-len 512] [--mem-len 512]
//!  [--batch-size 22] [--steps 10] [--warmup 2] [--threads 2] [--device cpu] [--skip functional]
//!  [--cross-head 0.1] [--dropout 0.1]`
//! prints one JSON line.

use anyhow::{bail, Context, Result};
use harness::model::skip::{Schedule, SkipDraws, SkipRetain};
use harness::model::transformer_xl::{Draws, TransformerXl, TxlConfig};
use harness::seed::{self, Purpose};
use harness::train::language_model::{cuda_memory_in_use, no_decay};
use harness::train::optim::AdamW;
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let n = |v: String| -> Result<usize> { v.parse().with_context(|| format!("not a count: {v}")) };
    let device_name = get("--device", "cpu");
    harness::device::enable_cuda();
    let device = harness::device::resolve(&device_name)?;
    let threads = n(get("--threads", "2"))?;
    tch::set_num_threads(threads as i32);
    let cfg = TxlConfig {
        n_token: n(get("--n-token", "204"))?,
        n_layer: n(get("--n-layer", "12"))?,
        d_model: n(get("--d-model", "512"))?,
        n_head: n(get("--n-head", "8"))?,
        d_head: n(get("--d-head", "64"))?,
        d_inner: n(get("--d-inner", "2048"))?,
        d_embed: None,
        dropout: get("--dropout", "0.1").parse()?,
        dropatt: 0.0,
        emb_dropout: None,
        pos_dropout: None,
        out_dropout: None,
        tgt_len: n(get("--tgt-len", "512"))?,
        mem_len: n(get("--mem-len", "512"))?,
        ext_len: 0,
        clamp_len: None,
        same_length: false,
        tie_weights: true,
        adaptive: None,
    };
    let batch = n(get("--batch-size", "22"))?;
    let steps = n(get("--steps", "10"))?;
    let warmup = n(get("--warmup", "2"))?;
    let skip = match get("--skip", "none").as_str() {
        "none" => None,
        "functional" => Some(Schedule::Functional),
        other => bail!("--skip {other}: use none or functional"),
    };
    let cross_head: f64 = get("--cross-head", "0").parse()?;

    tch::manual_seed(1);
    let vs = VarStore::new(device);
    let model = TransformerXl::new(&vs.root(), &cfg)?;
    let mut opt = AdamW::new(&vs, 0.0, no_decay);
    let mut mem = model.new_memory();
    let mut skip = skip.map(|s| SkipRetain::new(s, seed::stream(1, Purpose::Skip)));
    let mut ch = (cross_head > 0.0)
        .then(|| harness::model::CrossHead::new(cross_head, seed::stream(1, Purpose::CrossHead)));
    let data = Tensor::randint(
        cfg.n_token as i64,
        [(cfg.tgt_len + 1) as i64, batch as i64],
        (Kind::Int64, device),
    );
    let x = data.narrow(0, 0, cfg.tgt_len as i64);
    let y = data.narrow(0, 1, cfg.tgt_len as i64);
    let mut seconds = 0.0;
    let mut peak = None;
    for i in 0..warmup + steps {
        let t0 = Instant::now();
        opt.zero_grad();
        let mut permute = ch.as_mut().map(|c| move |h: usize| c.draw(h));
        let mut draws = Draws {
            skip: skip.as_mut().map(|s| s as &mut dyn SkipDraws),
            cross_head: permute
                .as_mut()
                .map(|f| f as &mut dyn harness::model::rel_attention::HeadPermutations),
        };
        let loss = model
            .forward(&x, &y, &mut mem, true, &mut draws)?
            .mean(Kind::Float);
        loss.backward();
        opt.clip_grad_norm(0.25);
        opt.step(2.5e-4);
        let _ = f64::try_from(&loss)?;
        if let Device::Cuda(d) = device {
            tch::Cuda::synchronize(d as i64);
            peak = peak.max(cuda_memory_in_use());
        }
        if i >= warmup {
            seconds += t0.elapsed().as_secs_f64();
        }
    }
    let tokens = (steps * batch * cfg.tgt_len) as f64;
    let (total, non_emb) = model.param_counts();
    println!(
        "{}",
        serde_json::json!({
            "implementation": format!("harness (tch {})", "0.24"),
            "device": harness::device::label(device),
            "threads": tch::get_num_threads(),
            "n_layer": cfg.n_layer, "d_model": cfg.d_model, "n_head": cfg.n_head, "d_head": cfg.d_head,
            "d_inner": cfg.d_inner, "n_token": cfg.n_token, "tgt_len": cfg.tgt_len, "mem_len": cfg.mem_len,
            "batch_size": batch, "warmup_steps": warmup, "steps": steps,
            "skip": skip.as_ref().map(|s| format!("{:?}", s.schedule)),
            "skip_fraction_observed": skip.as_ref().map(|s| s.observed_fraction()),
            "params_total": total, "params_non_embedding": non_emb,
            "seconds": seconds,
            "tokens_per_s": tokens / seconds,
            "ms_per_step": 1000.0 * seconds / steps as f64,
            "peak_device_bytes": peak,
        })
    );
    Ok(())
}
