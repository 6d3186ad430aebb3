use std::time::Duration;

use futures_util::StreamExt;
use signalbox::backend::{
    Backend, BackendError, ChatRequest, Chunk, FinalStats, Message, OllamaBackend, TimeoutKind,
    for_model,
};
use signalbox::config::ModelConfig;
use url::Url;

use crate::server::{Step, chunk, chunked_head, dead_url, full, head, last_chunk, serve};
use crate::{collect, text};

const NDJSON: &str = "application/x-ndjson";

fn model(url: &Url) -> ModelConfig {
    ModelConfig::ollama("gemma3:1b", url.clone(), Duration::from_secs(20))
}

fn backend(url: &Url) -> OllamaBackend {
    OllamaBackend::new(&model(url)).expect("backend")
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        model: "gemma3:1b".into(),
        messages: vec![Message::user(text)],
        ..ChatRequest::default()
    }
}

const DELTA_ELEVEN: &str = r#"{"model":"gemma3:1b","created_at":"2026-08-21T09:14:02.1Z","message":{"role":"assistant","content":"Eleven"},"done":false}"#;
const DELTA_DOT: &str = r#"{"model":"gemma3:1b","created_at":"2026-08-21T09:14:02.2Z","message":{"role":"assistant","content":"."},"done":false}"#;
const FINAL: &str = r#"{"model":"gemma3:1b","created_at":"2026-08-21T09:14:02.3Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":1893340112,"load_duration":1502119844,"prompt_eval_count":27,"prompt_eval_duration":211003000,"eval_count":3,"eval_duration":41882000}"#;

fn expected_stats() -> FinalStats {
    FinalStats {
        done_reason: Some("stop".into()),
        prompt_tokens: Some(27),
        completion_tokens: Some(3),
        total_duration: Some(Duration::from_nanos(1_893_340_112)),
        load_duration: Some(Duration::from_nanos(1_502_119_844)),
        prompt_eval_duration: Some(Duration::from_nanos(211_003_000)),
        eval_duration: Some(Duration::from_nanos(41_882_000)),
    }
}

#[tokio::test]
async fn a_normal_stream_gives_deltas_then_done_with_server_timings() {
    let items = crate::answer_from(
        vec![
            Step::Send(chunked_head(NDJSON)),
            Step::Send(chunk(&format!("{DELTA_ELEVEN}\n"))),
            Step::Send(chunk(&format!("{DELTA_DOT}\n"))),
            Step::Send(chunk(&format!("{FINAL}\n"))),
            Step::Send(last_chunk()),
        ],
        backend,
        ask("Name a prime above 10."),
    )
    .await;
    assert_eq!(
        items,
        vec![
            Ok(Chunk::Delta("Eleven".into())),
            Ok(Chunk::Delta(".".into())),
            Ok(Chunk::Done(expected_stats())),
        ]
    );
}

#[tokio::test]
async fn the_whole_conversation_options_keep_alive_and_format_are_sent_to_api_chat() {
    let mut server = serve(vec![
        Step::Send(head(200, NDJSON)),
        Step::Send(format!("{FINAL}\n").into()),
    ])
    .await;
    let mut config = model(&server.url);
    config.options.insert("num_ctx".into(), 4096.into());
    config.keep_alive = Some("10m".into());
    let backend = OllamaBackend::new(&config).expect("backend");
    let mut request = ChatRequest {
        model: "gemma3:1b".into(),
        messages: vec![
            Message::system("Answer tersely."),
            Message::user("Name a prime above 10."),
            Message::assistant("Eleven."),
            Message::user("Another?"),
        ],
        format: Some("json".into()),
        ..ChatRequest::default()
    };
    request.options.insert("temperature".into(), 0.2.into());
    request.options.insert("num_predict".into(), 64.into());
    let items = collect(backend.chat(request)).await;
    assert!(
        matches!(items.last(), Some(Ok(Chunk::Done(_)))),
        "{items:?}"
    );

    let sent = server.request().await;
    assert!(
        sent.head.starts_with("POST /api/chat HTTP/1.1"),
        "{}",
        sent.head
    );
    assert_eq!(
        sent.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(
        sent.json(),
        serde_json::json!({
            "model": "gemma3:1b",
            "messages": [
                {"role": "system", "content": "Answer tersely."},
                {"role": "user", "content": "Name a prime above 10."},
                {"role": "assistant", "content": "Eleven."},
                {"role": "user", "content": "Another?"},
            ],
            "stream": true,
            "options": {"num_ctx": 4096, "temperature": 0.2, "num_predict": 64},
            "keep_alive": "10m",
            "format": "json",
        })
    );
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_keeps_it() {
    let mut server = serve(vec![
        Step::Send(head(200, NDJSON)),
        Step::Send(format!("{FINAL}\n").into()),
    ])
    .await;
    let prefixed = server.url.join("ollama/").expect("URL");
    collect(backend(&prefixed).chat(ask("hi"))).await;
    assert!(
        server
            .request()
            .await
            .head
            .starts_with("POST /ollama/api/chat ")
    );
}

#[tokio::test]
async fn an_error_line_mid_stream_is_a_stream_error_with_the_servers_text() {
    let items = answer(vec![
        Step::Send(head(200, NDJSON)),
        Step::Send(format!("{DELTA_ELEVEN}\n{{\"error\":\"an error was encountered while running the model: boom\"}}\n").into()),
    ]).await;
    assert_eq!(
        items,
        vec![
            Ok(Chunk::Delta("Eleven".into())),
            Err(BackendError::StreamError {
                message: "an error was encountered while running the model: boom".into()
            }),
        ]
    );
}

#[tokio::test]
async fn a_stream_that_ends_without_done_is_cut_short() {
    let items = answer(vec![
        Step::Send(chunked_head(NDJSON)),
        Step::Send(chunk(&format!("{DELTA_ELEVEN}\n{DELTA_DOT}\n"))),
        Step::Send(last_chunk()),
    ])
    .await;
    assert_eq!(text(&items), "Eleven.");
    assert_eq!(items.last(), Some(&Err(BackendError::CutShort)));
}

#[tokio::test]
async fn a_connection_dropped_mid_chunk_is_cut_short() {
    let items = answer(vec![
        Step::Send(chunked_head(NDJSON)),
        Step::Send(chunk(&format!("{DELTA_ELEVEN}\n"))),
        Step::Send(b"40\r\n{\"message\":".to_vec()),
    ])
    .await;
    assert_eq!(
        items,
        vec![
            Ok(Chunk::Delta("Eleven".into())),
            Err(BackendError::CutShort)
        ]
    );
}

#[tokio::test]
async fn a_malformed_line_is_malformed_and_ends_the_stream() {
    let items = answer(vec![
        Step::Send(head(200, NDJSON)),
        Step::Send(format!("{DELTA_ELEVEN}\n{{not json\n{FINAL}\n").into()),
    ])
    .await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(
        matches!(&items[1], Err(BackendError::Malformed { message }) if message.contains("line 2"))
    );
}

#[tokio::test]
async fn a_line_longer_than_a_mebibyte_is_refused_as_malformed() {
    let long = format!(
        "{{\"message\":{{\"content\":\"{}\"}},\"done\":false}}\n",
        "x".repeat(2 << 20)
    );
    let items = answer(vec![Step::Send(head(200, NDJSON)), Step::Send(long.into())]).await;
    assert!(
        matches!(&items[..], [Err(BackendError::Malformed { message })] if message.contains("longer than")),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_body_written_one_byte_at_a_time_decodes_the_same() {
    let body = format!("{DELTA_ELEVEN}\n{DELTA_DOT}\n{FINAL}\n");
    let items = answer(vec![
        Step::Send(head(200, NDJSON)),
        Step::SendBytewise(body.into()),
    ])
    .await;
    assert_eq!(text(&items), "Eleven.");
    assert_eq!(items.last(), Some(&Ok(Chunk::Done(expected_stats()))));
}

#[tokio::test]
async fn crlf_line_endings_and_a_final_line_without_newline_decode() {
    let body = format!("{DELTA_ELEVEN}\r\n\r\n{DELTA_DOT}\r\n{FINAL}");
    let items = answer(vec![Step::Send(head(200, NDJSON)), Step::Send(body.into())]).await;
    assert_eq!(text(&items), "Eleven.");
    assert_eq!(items.last(), Some(&Ok(Chunk::Done(expected_stats()))));
}

/// What the backend answers to "hi" from a server that plays `steps`.
async fn answer(steps: Vec<Step>) -> Vec<Result<Chunk, BackendError>> {
    crate::answer_from(steps, backend, ask("hi")).await
}

async fn status_of(status: u16, body: &str) -> Vec<Result<Chunk, BackendError>> {
    answer(vec![Step::Send(full(
        status,
        "application/json; charset=utf-8",
        body,
    ))])
    .await
}

#[tokio::test]
async fn status_404_model_not_found_is_not_installed_naming_the_model() {
    let items = status_of(404, r#"{"error":"model 'gemma3:1b' not found"}"#).await;
    assert_eq!(
        items,
        vec![Err(BackendError::NotInstalled {
            model: "gemma3:1b".into()
        })]
    );
    let error = items[0].clone().unwrap_err();
    assert!(error.to_string().contains("ollama pull gemma3:1b"));
    assert!(!error.is_breaker_failure());
}

#[tokio::test]
async fn status_503_server_busy_is_busy_with_the_servers_text() {
    let message = "server busy, please try again.  maximum pending requests exceeded";
    let items = status_of(503, &format!(r#"{{"error":"{message}"}}"#)).await;
    assert_eq!(
        items,
        vec![Err(BackendError::Busy {
            message: message.into()
        })]
    );
}

#[tokio::test]
async fn status_429_is_busy() {
    let items = status_of(429, r#"{"error":"too many requests"}"#).await;
    assert!(
        matches!(&items[..], [Err(BackendError::Busy { .. })]),
        "{items:?}"
    );
}

#[tokio::test]
async fn status_500_is_status_with_the_servers_text() {
    let items = status_of(500, r#"{"error":"model runner has unexpectedly stopped"}"#).await;
    assert_eq!(
        items,
        vec![Err(BackendError::Status {
            status: 500,
            message: "model runner has unexpectedly stopped".into()
        })]
    );
    assert!(items[0].clone().unwrap_err().is_breaker_failure());
}

#[tokio::test]
async fn status_400_is_a_bad_request_with_the_servers_text() {
    let items = status_of(
        400,
        r#"{"error":"\"gemma3:1b\" does not support thinking"}"#,
    )
    .await;
    assert_eq!(
        items,
        vec![Err(BackendError::BadRequest {
            status: 400,
            message: "\"gemma3:1b\" does not support thinking".into()
        })]
    );
}

#[tokio::test]
async fn an_error_status_with_a_plain_text_body_keeps_the_text() {
    let items = status_of(502, "upstream gone").await;
    assert_eq!(
        items,
        vec![Err(BackendError::Status {
            status: 502,
            message: "upstream gone".into()
        })]
    );
}

#[tokio::test]
async fn a_refused_connection_is_connect_with_the_url() {
    let url = dead_url().await;
    let items = collect(backend(&url).chat(ask("hi"))).await;
    let [
        Err(BackendError::Connect {
            url: reported,
            message,
        }),
    ] = &items[..]
    else {
        panic!("expected one connect error, got {items:?}");
    };
    assert_eq!(reported, url.join("api/chat").expect("URL").as_str());
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[tokio::test]
async fn a_connection_closed_before_any_response_is_connect() {
    let items = answer(vec![]).await;
    assert!(
        matches!(&items[..], [Err(BackendError::Connect { .. })]),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_leaves_the_stream_pending_for_the_engine_to_time() {
    let mut server = serve(vec![Step::AwaitClientClose]).await;
    let mut stream = backend(&server.url).chat(ask("hi"));
    // Poll the stream until the request is on the server, then let virtual time run.
    tokio::select! {
        item = stream.next() => panic!("the stream ended by itself: {item:?}"),
        _ = server.request() => {}
    }
    tokio::time::pause();
    let waited = tokio::time::timeout(Duration::from_secs(3600), stream.next()).await;
    assert!(
        waited.is_err(),
        "after an hour of silence the stream gave {waited:?}"
    );
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection_so_the_server_stops() {
    let mut server = serve(vec![
        Step::Send(chunked_head(NDJSON)),
        Step::Send(chunk(&format!("{DELTA_ELEVEN}\n"))),
        Step::AwaitClientClose,
    ])
    .await;
    let mut stream = backend(&server.url).chat(ask("hi"));
    let first = stream.next().await;
    assert_eq!(first, Some(Ok(Chunk::Delta("Eleven".into()))));
    drop(stream);
    server.client_closed().await;
}

#[tokio::test]
async fn for_model_builds_an_ollama_backend_that_streams() {
    let server = serve(vec![
        Step::Send(head(200, NDJSON)),
        Step::Send(format!("{FINAL}\n").into()),
    ])
    .await;
    let backend = for_model(&model(&server.url)).expect("backend");
    let items = collect(backend.chat(ChatRequest {
        model: String::new(),
        ..ask("hi")
    }))
    .await;
    assert_eq!(items, vec![Ok(Chunk::Done(expected_stats()))]);
}

#[tokio::test]
async fn a_connect_that_cannot_complete_is_a_connect_timeout() {
    // A listener whose accept queue is full drops new SYNs, so a connect hangs.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let _filler = std::net::TcpStream::connect(addr).expect("first connection fills the queue");
    let mut config = model(&Url::parse(&format!("http://{addr}")).expect("URL"));
    config.timeouts.connect = Duration::from_millis(300);
    let backend = OllamaBackend::new(&config).expect("backend");
    let items = collect(backend.chat(ask("hi"))).await;
    assert_eq!(
        items,
        vec![Err(BackendError::Timeout {
            kind: TimeoutKind::Connect,
            after: Duration::from_millis(300)
        })]
    );
}

#[tokio::test]
async fn answers_reuse_pooled_connections_instead_of_one_per_request() {
    use std::collections::HashSet;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use axum::extract::{ConnectInfo, State};

    let peers: Arc<Mutex<HashSet<SocketAddr>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/api/chat",
            axum::routing::post(
                |State(peers): State<Arc<Mutex<HashSet<SocketAddr>>>>,
                 ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                    peers.lock().expect("peers").insert(peer);
                    // Streamed, so the body is chunked as Ollama's is.
                    let lines = [format!("{DELTA_ELEVEN}\n"), format!("{FINAL}\n")];
                    let stream = futures_util::stream::iter(lines.map(Ok::<_, std::io::Error>));
                    axum::body::Body::from_stream(stream)
                },
            ),
        )
        .with_state(peers.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = Url::parse(&format!("http://{}", listener.local_addr().expect("addr"))).expect("URL");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let backend = backend(&url);
    for _ in 0..6 {
        let items = collect(backend.chat(ask("hi"))).await;
        assert_eq!(items.last(), Some(&Ok(Chunk::Done(expected_stats()))));
    }
    // The pool may open a second connection when the next request comes before the last
    // one's connection is back; never one per request.
    let connections = peers.lock().expect("peers").len();
    assert!(connections <= 3, "6 answers took {connections} connections");
}
