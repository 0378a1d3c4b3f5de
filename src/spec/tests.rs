//! Loading, validation, override, expansion and key tests.

use super::*;

const GOOD: &str = "\
name: quick
seeds: {count: 2, base: 1}
model: {kind: bert, pretrained: data/models/m}
tasks: [spam, kjv_next]
baseline: baseline
variants:
  baseline: {}
  cross_head: {cross_head: {prob: 0.1}}
";

#[test]
fn loads_a_good_spec() {
    let loaded = parse_str(GOOD, "x.yaml", &[]).unwrap();
    assert_eq!(loaded.spec.name, "quick");
}
