//! Models: Transformer-XL with skip-retain and cross-head attention.

pub mod adaptive;
pub mod rel_attention;
pub mod skip;
pub mod transformer_xl;
