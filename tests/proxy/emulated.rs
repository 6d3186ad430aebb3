//! The whole chain over real HTTP: client → proxy → engine → Ollama backend → emulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use signalbox::config::{
    BreakerConfig, BulkheadConfig, Config, LogConfig, ModelConfig, ProxyConfig, RoutingConfig,
};
use signalbox::emulator::{self, EmulatorConfig, EmulatorHandle, Fault, FaultRule};
use signalbox::engine::Engine;
use signalbox::proxy::Server;
use tokio::sync::oneshot;

use crate::support::*;

const MODELS: [&str; 2] = ["gemma3:1b", "gemma2:2b"];

struct Chain {
    emulator: EmulatorHandle,
    engine: Engine,
    addr: std::net::SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn chain(bulkhead: BulkheadConfig, breaker: BreakerConfig) -> Chain {
    let emulator = emulator::start(
        "127.0.0.1:0".parse().unwrap(),
        EmulatorConfig::zero(MODELS).with_seed(3),
    )
    .await
    .unwrap();
    let models = MODELS
        .iter()
        .map(|name| ModelConfig {
            bulkhead,
            breaker,
            ..ModelConfig::ollama(*name, emulator.url(), Duration::from_secs(20))
        })
        .collect();
    let config = Config {
        models,
        routing: RoutingConfig::default(),
        proxy: ProxyConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ProxyConfig::default()
        },
        log: LogConfig::default(),
    };
    let engine = Engine::new(&config);
    let server = Server::bind(engine.clone(), config.proxy.clone())
        .await
        .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Chain {
        emulator,
        engine,
        addr,
        _stop: stop,
    }
}

#[tokio::test]
async fn answers_from_the_emulator_arrive_in_ollamas_format_with_its_figures() {
    let chain = chain(BulkheadConfig::default(), BreakerConfig::default()).await;
    let got = raw_chat(chain.addr, "signalbox", "hello", true).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let lines = ndjson(&got.body);
    let done = lines.last().unwrap();
    assert_eq!(done["done"], true);
    assert_eq!(done["model"], "signalbox");
    assert!(done["eval_count"].as_u64().unwrap() >= 8, "{done}");
    assert_eq!(
        done["eval_count"].as_u64().unwrap() as usize,
        lines.len() - 1,
        "a token per line"
    );
    assert!(MODELS.contains(&got.header("x-signalbox-model").unwrap()));
}

#[tokio::test]
async fn a_disconnecting_client_stops_generation_at_the_model_server() {
    let chain = chain(BulkheadConfig::default(), BreakerConfig::default()).await;
    chain
        .emulator
        .set_fault("gemma3:1b", Fault::HangAfter { chunks: 1 })
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut response = client
        .post(format!("http://{}/api/chat", chain.addr))
        .body(chat_body("gemma3:1b", "q", true))
        .send()
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), response.chunk())
        .await
        .unwrap()
        .unwrap();
    drop(response);
    for _ in 0..300 {
        if chain.emulator.stats().model("gemma3:1b").cancelled == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = chain.emulator.stats().model("gemma3:1b");
    assert_eq!((stats.cancelled, stats.in_flight), (1, 0), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_through_the_emulator_with_faults_each_get_one_ending() {
    const CLIENTS: usize = 100;
    const REQUESTS: usize = 10;
    let breaker = BreakerConfig {
        failure_threshold: 3,
        open_base: Duration::from_millis(50),
        open_max: Duration::from_millis(200),
        ..BreakerConfig::default()
    };
    let chain = chain(
        BulkheadConfig {
            max_in_flight: 16,
            queue_capacity: 512,
        },
        breaker,
    )
    .await;
    chain
        .emulator
        .set_fault(
            "gemma3:1b",
            FaultRule::probability(
                Fault::ErrorMidStream {
                    chunks: 1,
                    message: None,
                },
                0.05,
            ),
        )
        .unwrap();
    chain
        .emulator
        .set_fault(
            "gemma2:2b",
            FaultRule::probability(Fault::ServerError { message: None }, 0.05),
        )
        .unwrap();
    let answers = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (addr, answers, errors) = (chain.addr, answers.clone(), errors.clone());
        clients.spawn(async move {
            for r in 0..REQUESTS {
                let got = raw(
                    addr,
                    "POST",
                    "/api/chat",
                    &[],
                    &chat_body("signalbox", &format!("{c}/{r}"), true),
                )
                .await;
                if got.status != 200 {
                    assert_eq!(got.status, 503, "{}", got.body);
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let lines = ndjson(&got.body);
                let last = lines.last().unwrap();
                let endings = lines
                    .iter()
                    .filter(|l| l["done"] == true || l.get("error").is_some())
                    .count();
                assert_eq!(endings, 1, "{}", got.body);
                if last["done"] == true {
                    &answers
                } else {
                    &errors
                }
                .fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let all = async {
        while let Some(joined) = clients.join_next().await {
            joined.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("finished within 120 s");
    let (answers, errors) = (
        answers.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
    );
    println!(
        "emulated load: {} requests in {:.1} s: {answers} answers, {errors} errors",
        CLIENTS * REQUESTS,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(answers + errors, CLIENTS * REQUESTS);
    assert!(answers > CLIENTS * REQUESTS / 2, "{answers}");
    for _ in 0..300 {
        let idle = chain
            .engine
            .snapshot()
            .models
            .iter()
            .all(|m| m.in_flight == 0 && m.queued == 0);
        let stats = chain.emulator.stats();
        if idle && MODELS.iter().all(|m| stats.model(m).in_flight == 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("slots or emulator requests still in flight");
}
