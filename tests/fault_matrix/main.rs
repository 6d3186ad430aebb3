//! The fault matrix: every emulator fault, over both wire protocols, through the real
//! backends and the engine, on real sockets on 127.0.0.1.
//!
//! One test per cell. Each sets the fault on the primary model, asks it with fallback to
//! the backup, and checks what the user sees (the attempt's error and its text), whether
//! the breaker counted it, that the answer came from the backup, how soon the engine gave
//! up, that the server heard the engine hang up where it gave up, and that no bulkhead slot
//! leaked. Then the same fault meets a half-open probe, and once the fault clears the
//! primary must serve again: no breaker stays wedged half-open.
//!
//! The expected cells live in [`expect::MATRIX`]; `docs/fault-matrix.md` shows the same
//! table, and [`doc`] checks that the two agree.
//!
//! The clock is paused: the emulator's latencies and the engine's limits run on tokio's
//! clock, which jumps ahead whenever every task waits. That is safe with real sockets
//! here because everything (emulator, backends, engine) runs on the test's one thread and
//! loopback delivers a write to its reader before the write returns, so no task waits on
//! bytes the kernel has not handed over yet.

mod cell;
mod doc;
mod expect;

use std::net::SocketAddr;
use std::time::Duration;

use signalbox::config::{Config, ModelBuilder};
use signalbox::emulator::{self, EmulatorConfig, EmulatorHandle, Fault, Latency, Profile};
use signalbox::engine::Engine;

/// The model the fault is set on, and the one the engine falls back to.
pub const PRIMARY: &str = "primary:1b";
pub const BACKUP: &str = "backup:1b";

/// The engine's limits for both models.
pub const FIRST_TOKEN: Duration = Duration::from_secs(2);
pub const STALL: Duration = Duration::from_secs(1);
pub const TOTAL: Duration = Duration::from_secs(5);
pub const OPEN_BASE: Duration = Duration::from_secs(2);
pub const OPEN_MAX: Duration = Duration::from_secs(8);

/// Tokens in every emulated answer, and their pace.
pub const ANSWER_TOKENS: u32 = 6;
pub const FIRST_TOKEN_AFTER: Duration = Duration::from_millis(100);
pub const TOKEN_EVERY: Duration = Duration::from_millis(20);

/// The wire protocol the engine's backends speak to the emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Ollama,
    OpenAi,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::Ollama, Protocol::OpenAi];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Ollama => "ollama",
            Protocol::OpenAi => "openai",
        }
    }

    /// Where this protocol's backend sends a chat.
    pub fn chat_path(self) -> &'static str {
        match self {
            Protocol::Ollama => "api/chat",
            Protocol::OpenAi => "v1/chat/completions",
        }
    }
}

/// The fault set on the primary model in each row of the matrix, by the emulator's name.
pub fn fault_named(name: &str) -> Fault {
    match name {
        "refuse" => Fault::Refuse,
        "no_answer" => Fault::NoAnswer,
        "hang_after" => Fault::HangAfter { chunks: 2 },
        "server_error" => Fault::ServerError { message: None },
        "busy" => Fault::Busy,
        "not_installed" => Fault::NotInstalled,
        "error_mid_stream" => Fault::ErrorMidStream {
            chunks: 1,
            message: None,
        },
        "no_done" => Fault::NoDone { chunks: None },
        "malformed" => Fault::Malformed { chunks: 1 },
        // Gaps of 2 s between tokens, past the 1 s stall limit.
        "slow_drip" => Fault::SlowDrip { factor: 100.0 },
        "keep_alive_only" => Fault::KeepAliveOnly,
        "empty_chunks" => Fault::EmptyChunks,
        other => panic!("no fault named {other} in the matrix"),
    }
}

/// Whether the matrix must have a row for this fault. No wildcard: a new emulator fault
/// does not compile here until someone decides its row.
pub fn needs_a_row(fault: &Fault) -> bool {
    match fault {
        Fault::None => false,
        Fault::Refuse
        | Fault::NoAnswer
        | Fault::HangAfter { .. }
        | Fault::ServerError { .. }
        | Fault::Busy
        | Fault::NotInstalled
        | Fault::ErrorMidStream { .. }
        | Fault::NoDone { .. }
        | Fault::Malformed { .. }
        | Fault::SlowDrip { .. }
        | Fault::KeepAliveOnly
        | Fault::EmptyChunks => true,
    }
}

/// An emulator serving both models, and an engine over it through the real backends.
pub struct Rig {
    pub emulator: EmulatorHandle,
    pub engine: Engine,
    pub protocol: Protocol,
}

impl Rig {
    pub async fn start(protocol: Protocol) -> Rig {
        let profile = Profile {
            load: Duration::ZERO,
            first_token: Latency::Fixed(FIRST_TOKEN_AFTER),
            per_token: Latency::Fixed(TOKEN_EVERY),
            answer_tokens: (ANSWER_TOKENS, ANSWER_TOKENS),
            parallel: 0,
            load_penalty: 0.0,
            ..Profile::zero()
        };
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let models = vec![
            (PRIMARY.to_string(), profile.clone()),
            (BACKUP.to_string(), profile),
        ];
        let emulator = emulator::start(
            addr,
            EmulatorConfig {
                models,
                seed: 7,
                speed: 1.0,
            },
        )
        .await
        .unwrap();
        let config = config(protocol, emulator.url().as_str());
        let engine = Engine::try_new(&config).expect("both backends build");
        Rig {
            emulator,
            engine,
            protocol,
        }
    }

    /// The URL the primary's backend posts chats to, as error messages name it.
    pub fn primary_chat_url(&self) -> String {
        format!("{}{}", self.emulator.url(), self.protocol.chat_path())
    }
}

/// Two models on the emulator, with the matrix's short limits and round-robin routing (the
/// tests name the model, so routing never decides who answers).
pub fn config(protocol: Protocol, url: &str) -> Config {
    let model = |name: &str| {
        let model = match protocol {
            Protocol::Ollama => ModelBuilder::ollama(name, TOTAL).base_url(url),
            Protocol::OpenAi => ModelBuilder::openai(name, url, TOTAL),
        };
        model
            .first_token_timeout(FIRST_TOKEN)
            .stall_timeout(STALL)
            .connect_timeout(Duration::from_secs(1))
            .failure_threshold(2)
            .open_period(OPEN_BASE, OPEN_MAX)
            .probe_timeout(TOTAL * 2)
    };
    Config::builder()
        .model(model(PRIMARY))
        .model(model(BACKUP))
        .strategy(signalbox::config::StrategyKind::RoundRobin)
        .warmup(1)
        .probe_every(0)
        .build()
        .expect("the matrix's configuration is valid")
}

/// One test per fault and protocol: `cells::<fault>::<protocol>`.
macro_rules! matrix {
    ($($fault:ident),* $(,)?) => {
        /// Every fault the matrix runs, by the emulator's name for it.
        pub const FAULTS: &[&str] = &[$(stringify!($fault)),*];

        mod cells {
            $(
                mod $fault {
                    use crate::Protocol;

                    #[tokio::test(start_paused = true)]
                    async fn over_ollama_behaves_as_the_matrix_says() {
                        crate::cell::run(stringify!($fault), Protocol::Ollama).await;
                    }

                    #[tokio::test(start_paused = true)]
                    async fn over_openai_behaves_as_the_matrix_says() {
                        crate::cell::run(stringify!($fault), Protocol::OpenAi).await;
                    }
                }
            )*
        }
    };
}

matrix! {
    refuse,
    no_answer,
    hang_after,
    server_error,
    busy,
    not_installed,
    error_mid_stream,
    no_done,
    malformed,
    slow_drip,
    keep_alive_only,
    empty_chunks,
}
