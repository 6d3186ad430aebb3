//! Properties over generated input: no panics, and round trips.

use super::*;

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    const KEYS: &[&str] = &[
        "name",
        "timeout",
        "url",
        "backend",
        "strategy",
        "warmup",
        "failure_threshold",
        "threshold",
        "max_in_flight",
        "listen",
        "level",
        "options",
        "keep_alive",
        "open_max",
        "window",
        "x",
    ];
    const VALUES: &[&str] = &[
        "\"a\"",
        "0",
        "-1",
        "1.5",
        "nan",
        "inf",
        "\"0s\"",
        "\"20s\"",
        "\"99999999999999999999h\"",
        "true",
        "[]",
        "{}",
        "{ a = 1 }",
        "\"http://[::1\"",
        "\"https://x\"",
        "1979-05-27",
        "0x7fffffffffffffff",
        "\"p95\"",
        "[\"a\", 1]",
        "\"-\"",
        "18446744073709551615",
    ];
    const HEADERS: &[&str] = &[
        "[[model]]",
        "[routing]",
        "[proxy]",
        "[log]",
        "[defaults]",
        "[defaults.breaker]",
        "[model.breaker]",
        "[model.breaker.failure_rate]",
        "[model.options]",
        "[model]",
        "[[model.bulkhead]]",
        "",
    ];

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(HEADERS).prop_map(str::to_string),
            (prop::sample::select(KEYS), prop::sample::select(VALUES))
                .prop_map(|(k, v)| format!("{k} = {v}")),
            "[ -~]{0,20}",
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = load(&text);
        }

        #[test]
        fn arbitrary_toml_like_documents_never_panic(lines in prop::collection::vec(line(), 0..30)) {
            let text = lines.join("\n");
            if let Err(errors) = load(&text) {
                prop_assert!(!errors.is_empty());
                let _ = errors.to_string();
            }
        }

        #[test]
        fn arbitrary_ollama_host_values_never_panic(text in "\\PC{0,40}") {
            let _ = parse_ollama_host(&text);
        }
    }
}

mod round_trip {
    use proptest::prelude::*;

    use super::*;

    /// From a millisecond (shorter than the default connect limit) to about three hours.
    fn duration() -> impl Strategy<Value = Duration> {
        prop_oneof![(1u64..3_000), (1u64..10_000_000)].prop_map(Duration::from_millis)
    }

    fn model(index: usize) -> impl Strategy<Value = ModelConfig> {
        (
            duration(),
            1usize..64,
            0usize..1000,
            1u32..10,
            duration(),
            1u32..5,
            prop::option::of(0.01f64..=1.0),
        )
            .prop_map(
                move |(total, in_flight, queue, threshold, open, probes, rate)| {
                    let mut model = ModelConfig::ollama(format!("m{index}"), local(), total);
                    model.bulkhead = BulkheadConfig {
                        max_in_flight: in_flight,
                        queue_capacity: queue,
                    };
                    model.breaker.failure_threshold = threshold;
                    model.breaker.open_base = open;
                    model.breaker.open_max = open * 4;
                    model.breaker.half_open_probes = probes;
                    model.breaker.failure_rate = rate.map(|threshold| FailureRateConfig {
                        window: 30,
                        min_calls: 10,
                        threshold,
                    });
                    model
                },
            )
    }

    proptest! {
        #[test]
        fn any_valid_configuration_writes_and_reads_back_equal(
            models in (1usize..4).prop_flat_map(|n| (0..n).map(model).collect::<Vec<_>>()),
            warmup in 0u32..100,
            window in duration(),
            round_robin: bool,
        ) {
            let mut config = Config::default_for(local());
            config.models = models;
            config.routing.warmup = warmup;
            config.routing.window = window;
            if round_robin {
                config.routing.strategy = StrategyKind::RoundRobin;
            }
            let written = config.to_toml_string();
            prop_assert_eq!(load(&written), Ok(config), "{}", written);
        }
    }
}
