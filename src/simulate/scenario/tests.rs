//! Scenario parsing: built-ins, phases, distributions, and errors that name the key.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

const SMALL: &str = r#"
    [arrivals]
    poisson = 2.0
    count = 100

    [[model]]
    name = "a"
    first_token = { min = "100ms", max = "300ms" }
    token = { median = "20ms", p95 = "40ms" }
    tokens = { min = 10, max = 50 }

    [[phase]]
    at = "10s"
    model = "a"
    state = "flap"
    flap_every = "5s"
"#;

#[test]
fn every_built_in_scenario_parses() {
    for (name, text) in BUILT_IN {
        let s = Scenario::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.models.len() >= 2, "{name}");
    }
}

#[test]
fn phases_change_the_profile_from_their_time_on() {
    let s = Scenario::parse(SMALL, "small").unwrap();
    let a = &s.models[0];
    assert_eq!(a.profile_at(Duration::from_secs(9)).state, State::Up);
    let flapping = a.profile_at(Duration::from_secs(10));
    assert!(flapping.down_at(Duration::from_secs(12)));
    assert!(!flapping.down_at(Duration::from_secs(16)));
    assert!(flapping.down_at(Duration::from_secs(21)));
}

#[test]
fn a_misspelt_key_is_named() {
    let text = SMALL.replace("poisson", "poison");
    let e = Scenario::parse(&text, "small").unwrap_err().to_string();
    assert!(e.contains("poison"), "{e}");
}

#[test]
fn a_bad_duration_names_its_key_and_value() {
    let text = SMALL.replace("at = \"10s\"", "at = \"ten\"");
    let e = Scenario::parse(&text, "small").unwrap_err().to_string();
    assert!(e.contains("at") && e.contains("'ten'"), "{e}");
}

#[test]
fn a_half_given_distribution_and_an_unknown_model_are_both_reported() {
    let text = SMALL
        .replace("{ min = 10, max = 50 }", "{ min = 10 }")
        .replace("model = \"a\"", "model = \"b\"");
    let e = Scenario::parse(&text, "small").unwrap_err().to_string();
    assert!(e.contains("model[0] (a).tokens: give either"), "{e}");
    assert!(e.contains("no model named 'b'"), "{e}");
}

#[test]
fn log_normal_draws_have_the_given_median_and_p95() {
    let d = DistSpec {
        min: None,
        max: None,
        median: Some(Dur(Duration::from_secs(2))),
        p95: Some(Dur(Duration::from_secs(6))),
    }
    .build("x")
    .unwrap();
    let mut rng = SmallRng::seed_from_u64(5);
    let mut draws: Vec<f64> = (0..10_000)
        .map(|_| d.sample(rng.random(), rng.random()))
        .collect();
    draws.sort_by(f64::total_cmp);
    let (median, p95) = (draws[5000], draws[9500]);
    assert!((median - 2.0).abs() < 0.15, "{median}");
    assert!((p95 - 6.0).abs() < 0.5, "{p95}");
}
