//! AdamW with decoupled weight decay (Loshchilov & Hutter 2019), as torch.optim.AdamW computes it
//! (the update itself in libtorch's fused kernel, `fused=True`), and global gradient-norm
//! clipping. The parameter groups (no decay on biases and LayerNorm weights, Devlin et al.) are
//! explicit.

use crate::native;
use tch::{nn::VarStore, Tensor};

struct Param {
    name: String,
    var: Tensor,
    m: Tensor,
    v: Tensor,
    decay: bool,
}

pub struct AdamW {
    params: Vec<Param>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    step: i64,
}

impl AdamW {
    /// All trainable variables of `vs`, sorted by name so that the update order never depends on
    /// hash-map order; `no_decay(name)` selects the variables without weight decay.
    pub fn new(vs: &VarStore, weight_decay: f64, no_decay: impl Fn(&str) -> bool) -> AdamW {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let params = vars
            .into_iter()
            .map(|(name, var)| Param {
                m: var.zeros_like(),
                v: var.zeros_like(),
                decay: !no_decay(&name),
                name,
                var,
            })
            .collect();
        AdamW {
            params,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
        }
    }

    /// Updates taken so far (t of the bias corrections).
    pub fn step_count(&self) -> i64 {
        self.step
    }

    /// (variable name, first moment m, second moment v) of every parameter, sorted by name.
    pub fn moments(&self) -> Vec<(&str, &Tensor, &Tensor)> {
        self.params
            .iter()
            .map(|p| (p.name.as_str(), &p.m, &p.v))
            .collect()
    }

    /// Restores the state that [`AdamW::step_count`] and [`AdamW::moments`] gave: `moment(name)`
    /// returns (m, v) of a variable. Fails naming the first variable without a stored moment
    /// or with another shape.
    pub fn restore(
        &mut self,
        step: i64,
        moment: impl Fn(&str) -> Option<(Tensor, Tensor)>,
    ) -> Result<(), String> {
        tch::no_grad(|| {
            for p in &mut self.params {
                let (m, v) = moment(&p.name)
                    .ok_or_else(|| format!("no optimizer state for `{}`", p.name))?;
                if m.size() != p.m.size() || v.size() != p.v.size() {
                    return Err(format!(
                        "optimizer state of `{}` has shape {:?}, the model's is {:?}",
                        p.name,
                        m.size(),
                        p.m.size()
                    ));
                }
                p.m.copy_(&m);
                p.v.copy_(&v);
            }
            Ok(())
        })?;
        self.step = step;
        Ok(())
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.var.zero_grad();
        }
    }

    /// Scales all gradients so that their global L2 norm is at most `max_norm`; returns the norm
    /// before clipping.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        tch::no_grad(|| {
            let norms: Vec<Tensor> = self
                .params
                .iter()
                .map(|p| p.var.grad())
                .filter(|g| g.defined())
                .map(|g| g.norm())
                .collect();
            if norms.is_empty() {
                return 0.0;
            }
            let total = f64::try_from(Tensor::stack(&norms, 0).norm()).unwrap_or(f64::NAN);
            let coef = max_norm / (total + 1e-6);
            if coef < 1.0 {
                for p in &self.params {
                    let mut g = p.var.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(coef);
                    }
                }
            }
            total
        })
    }

    /// One update at learning rate `lr`:
    /// θ ← θ(1 − lr·λ); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
    /// θ ← θ − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε),
    /// in libtorch's fused kernel, one call for the parameters with weight decay and one for
    /// those without (variables without a gradient are left alone).
    pub fn step(&mut self, lr: f64) {
        self.step += 1;
        let grads: Vec<Tensor> = self.params.iter().map(|p| p.var.grad()).collect();
        for decay in [true, false] {
            let group: Vec<(&Param, &Tensor)> = self
                .params
                .iter()
                .zip(&grads)
                .filter(|(p, g)| p.decay == decay && g.defined())
                .collect();
            let pick = |f: fn(&Param) -> &Tensor| group.iter().map(|(p, _)| f(p)).collect();
            let (params, exp_avgs, exp_avg_sqs): (Vec<&Tensor>, Vec<&Tensor>, Vec<&Tensor>) =
                (pick(|p| &p.var), pick(|p| &p.m), pick(|p| &p.v));
            let grads: Vec<&Tensor> = group.iter().map(|(_, g)| *g).collect();
            let lists = native::AdamWLists {
                params: &params,
                grads: &grads,
                exp_avgs: &exp_avgs,
                exp_avg_sqs: &exp_avg_sqs,
            };
            let h = native::AdamWStep {
                step: self.step,
                lr,
                beta1: self.beta1,
                beta2: self.beta2,
                weight_decay: if decay { self.weight_decay } else { 0.0 },
                eps: self.eps,
            };
            tch::no_grad(|| native::fused_adamw(&lists, h))
                .unwrap_or_else(|e| panic!("AdamW: libtorch's fused kernel failed: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Two AdamW steps on f(θ) = ½‖θ‖² from θ = (1, −2), lr 0.1, λ = 0.01, computed by hand:
    /// step 1: g = θ, m̂ = g, v̂ = g², update = lr·sign(g) (up to ε), plus decay θ·(1 − 0.001).
    #[test]
    fn matches_hand_computed_updates() {
        let vs = VarStore::new(Device::Cpu);
        let theta = vs.root().var_copy(
            "w",
            &Tensor::from_slice(&[1.0f64, -2.0]).to_kind(Kind::Float),
        );
        let mut opt = AdamW::new(&vs, 0.01, |_| false);
        let mut expected = [1.0f64, -2.0];
        let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
        for t in 1..=2 {
            opt.zero_grad();
            let loss = (&theta * &theta).sum(Kind::Float) * 0.5;
            loss.backward();
            opt.step(0.1);
            for i in 0..2 {
                let g = expected[i];
                expected[i] *= 1.0 - 0.1 * 0.01;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let mhat = m[i] / (1.0 - 0.9f64.powi(t));
                let vhat = v[i] / (1.0 - 0.999f64.powi(t));
                expected[i] -= 0.1 * mhat / (vhat.sqrt() + 1e-8);
            }
        }
        let got: Vec<f32> = Vec::<f32>::try_from(theta.detach()).unwrap();
        for i in 0..2 {
            assert!(
                (got[i] as f64 - expected[i]).abs() < 1e-6,
                "{got:?} vs {expected:?}"
            );
        }
    }

    /// The fused update equals the formula written out per tensor (float32), over several
    /// steps, for a decayed and an undecayed variable of different shapes.
    #[test]
    fn fused_updates_match_the_formula_per_tensor() {
        tch::manual_seed(7);
        let vs = VarStore::new(Device::Cpu);
        let root = vs.root();
        let w = root.var_copy("weight", &Tensor::randn([3, 5], (Kind::Float, Device::Cpu)));
        let b = root.var_copy("bias", &Tensor::randn([5], (Kind::Float, Device::Cpu)));
        let (lr, wd, b1, b2, eps) = (0.01, 0.1, 0.9f64, 0.999f64, 1e-8);
        let mut opt = AdamW::new(&vs, wd, |name| name == "bias");
        let mut mirror: Vec<(Tensor, Tensor, Tensor, bool)> = [(&w, true), (&b, false)]
            .iter()
            .map(|(t, decay)| (t.detach().copy(), t.zeros_like(), t.zeros_like(), *decay))
            .collect();
        for t in 1..=4 {
            opt.zero_grad();
            ((&w * &w).sum(Kind::Float) + (&b * &b * &b).sum(Kind::Float)).backward();
            let grads = [w.grad().copy(), b.grad().copy()];
            opt.step(lr);
            let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
            for ((theta, m, v, decay), g) in mirror.iter_mut().zip(&grads) {
                if *decay {
                    *theta = &*theta * (1.0 - lr * wd);
                }
                *m = &*m * b1 + g * (1.0 - b1);
                *v = &*v * b2 + g * g * (1.0 - b2);
                *theta = &*theta - (&*m / bc1) * lr / ((&*v / bc2).sqrt() + eps);
            }
        }
        for ((theta, ..), var) in mirror.iter().zip([&w, &b]) {
            let diff = f64::try_from((theta - var).abs().max()).unwrap();
            assert!(diff < 1e-6, "fused and per-tensor AdamW differ by {diff}");
        }
    }

    #[test]
    fn no_decay_variables_are_not_decayed() {
        let vs = VarStore::new(Device::Cpu);
        let root = vs.root();
        let w = (&root / "dense").var_copy("weight", &Tensor::from_slice(&[1.0f32]));
        let b = (&root / "dense").var_copy("bias", &Tensor::from_slice(&[1.0f32]));
        let mut opt = AdamW::new(&vs, 0.5, |name| name.ends_with("bias"));
        opt.zero_grad();
        // Zero gradient: only weight decay can move a parameter.
        ((&w + &b) * 0.0).sum(Kind::Float).backward();
        opt.step(0.1);
        assert!((f64::try_from(&w).unwrap() - 0.95).abs() < 1e-6);
        assert_eq!(f64::try_from(&b).unwrap(), 1.0);
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[3.0f32, 4.0]));
        let mut opt = AdamW::new(&vs, 0.0, |_| false);
        opt.zero_grad();
        ((&w * &w).sum(Kind::Float) * 0.5).backward(); // grad = (3, 4), norm 5
        let norm = opt.clip_grad_norm(1.0);
        assert!((norm - 5.0).abs() < 1e-5);
        let g = Vec::<f32>::try_from(w.grad()).unwrap();
        assert!(
            (g[0] - 0.6).abs() < 1e-5 && (g[1] - 0.8).abs() < 1e-5,
            "{g:?}"
        );
    }
}
