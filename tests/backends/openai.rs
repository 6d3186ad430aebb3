use std::time::Duration;

use futures_util::StreamExt;
use signalbox::backend::{
    Backend, BackendError, BackendKind, BuildError, ChatRequest, Chunk, FinalStats, Message,
    OpenAiBackend, for_model,
};
use signalbox::config::ModelConfig;
use url::Url;

use crate::server::{Step, chunk, chunked_head, full, head, last_chunk, serve};
use crate::{collect, text};

const SSE: &str = "text/event-stream";

fn model(url: &Url) -> ModelConfig {
    let mut config = ModelConfig::ollama("gemma-270m", url.clone(), Duration::from_secs(20));
    config.backend = BackendKind::OpenAi;
    config
}

fn backend(url: &Url) -> OpenAiBackend {
    OpenAiBackend::new(&model(url)).expect("backend")
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        model: "gemma-270m".into(),
        messages: vec![Message::user(text)],
        ..ChatRequest::default()
    }
}

/// Ollama's `/v1` sequence: role with the first content, a separate finish chunk, a usage
/// chunk with empty choices, then `[DONE]`.
const OLLAMA_STYLE: &str = concat!(
    "data: {\"id\":\"chatcmpl-417\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Eleven\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-417\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\".\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-417\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"chatcmpl-417\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":27,\"completion_tokens\":3,\"total_tokens\":30}}\n\n",
    "data: [DONE]\n\n",
);

fn stop_with_usage() -> FinalStats {
    FinalStats {
        done_reason: Some("stop".into()),
        prompt_tokens: Some(27),
        completion_tokens: Some(3),
        ..FinalStats::default()
    }
}

#[tokio::test]
async fn an_ollama_style_stream_gives_deltas_then_done_with_usage() {
    let items = answer(vec![
        Step::Send(chunked_head(SSE)),
        Step::Send(chunk(OLLAMA_STYLE)),
        Step::Send(last_chunk()),
    ])
    .await;
    assert_eq!(
        items,
        vec![
            Ok(Chunk::Delta("Eleven".into())),
            Ok(Chunk::Delta(".".into())),
            Ok(Chunk::Done(stop_with_usage())),
        ]
    );
}

#[tokio::test]
async fn a_role_only_first_chunk_and_null_fields_are_not_tokens() {
    // OpenAI's own shape: role alone first, `usage: null` everywhere, content null.
    let body = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":null},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],\"usage\":null}\n\n",
        "data: {\"choices\":null,\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}\n\n",
        "data: [DONE]\n\n",
    );
    let items = answer(vec![Step::Send(head(200, SSE)), Step::Send(body.into())]).await;
    assert_eq!(
        items,
        vec![
            Ok(Chunk::Delta("Hi".into())),
            Ok(Chunk::Done(FinalStats {
                done_reason: Some("length".into()),
                prompt_tokens: Some(5),
                completion_tokens: Some(1),
                ..FinalStats::default()
            })),
        ]
    );
}

#[tokio::test]
async fn a_stream_without_usage_leaves_token_counts_unknown() {
    let body = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let items = answer(vec![Step::Send(head(200, SSE)), Step::Send(body.into())]).await;
    let Some(Ok(Chunk::Done(stats))) = items.last() else {
        panic!("{items:?}")
    };
    assert_eq!(stats.completion_tokens, None);
    assert_eq!(stats.done_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn the_request_goes_to_v1_chat_completions_streaming_with_usage_asked_for() {
    let mut server = serve(vec![
        Step::Send(head(200, SSE)),
        Step::Send(OLLAMA_STYLE.into()),
    ])
    .await;
    let mut request = ask("Name a prime.");
    request.messages.insert(0, Message::system("Be brief."));
    request.options.insert("num_predict".into(), 32.into());
    request.options.insert("temperature".into(), 0.0.into());
    collect(backend(&server.url).chat(request)).await;
    let sent = server.request().await;
    assert!(
        sent.head.starts_with("POST /v1/chat/completions HTTP/1.1"),
        "{}",
        sent.head
    );
    assert_eq!(
        sent.json(),
        serde_json::json!({
            "model": "gemma-270m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Name a prime."},
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": 32,
            "temperature": 0.0,
        })
    );
}

#[tokio::test]
async fn a_base_url_ending_in_v1_is_not_doubled() {
    let mut server = serve(vec![
        Step::Send(head(200, SSE)),
        Step::Send(OLLAMA_STYLE.into()),
    ])
    .await;
    let with_v1 = server.url.join("v1").expect("URL");
    collect(backend(&with_v1).chat(ask("hi"))).await;
    let sent = server.request().await;
    assert!(
        sent.head.starts_with("POST /v1/chat/completions "),
        "{}",
        sent.head
    );
}

#[tokio::test]
async fn keep_alive_comments_crlf_and_one_byte_writes_decode_the_same() {
    let body = OLLAMA_STYLE.replace("\n\n", "\r\n: keep-alive\r\n\r\n");
    let items = answer(vec![
        Step::Send(head(200, SSE)),
        Step::SendBytewise(body.into()),
    ])
    .await;
    assert_eq!(text(&items), "Eleven.");
    assert_eq!(items.last(), Some(&Ok(Chunk::Done(stop_with_usage()))));
}

#[tokio::test]
async fn a_stream_without_done_or_finish_reason_is_cut_short() {
    let body =
        "data: {\"choices\":[{\"delta\":{\"content\":\"Elev\"},\"finish_reason\":null}]}\n\n";
    let items = answer(vec![Step::Send(head(200, SSE)), Step::Send(body.into())]).await;
    assert_eq!(
        items,
        vec![Ok(Chunk::Delta("Elev".into())), Err(BackendError::CutShort)]
    );
}

#[tokio::test]
async fn an_error_object_in_the_stream_is_a_stream_error_with_its_message() {
    let body = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
        "data: {\"error\":{\"message\":\"context size exceeded\",\"type\":\"server_error\",\"code\":500}}\n\n",
    );
    let items = answer(vec![Step::Send(head(200, SSE)), Step::Send(body.into())]).await;
    assert_eq!(
        items,
        vec![
            Ok(Chunk::Delta("a".into())),
            Err(BackendError::StreamError {
                message: "context size exceeded".into()
            }),
        ]
    );
}

#[tokio::test]
async fn a_data_event_that_is_not_json_is_malformed() {
    let items = answer(vec![
        Step::Send(head(200, SSE)),
        Step::Send(b"data: {oops\n\n".to_vec()),
    ])
    .await;
    assert!(
        matches!(&items[..], [Err(BackendError::Malformed { .. })]),
        "{items:?}"
    );
}

/// What the backend answers to "hi" from a server that plays `steps`.
async fn answer(steps: Vec<Step>) -> Vec<Result<Chunk, BackendError>> {
    crate::answer_from(steps, backend, ask("hi")).await
}

async fn status_of(status: u16, body: &str) -> Vec<Result<Chunk, BackendError>> {
    answer(vec![Step::Send(full(status, "application/json", body))]).await
}

#[tokio::test]
async fn error_bodies_map_to_typed_errors_with_the_servers_message() {
    let items = status_of(
        400,
        r#"{"error":{"message":"[] is too short - 'messages'","type":"invalid_request_error","param":null,"code":null}}"#,
    )
    .await;
    assert_eq!(
        items,
        vec![Err(BackendError::BadRequest {
            status: 400,
            message: "[] is too short - 'messages'".into()
        })]
    );

    let items = status_of(
        404,
        r#"{"error":{"message":"model 'gemma-270m' not found","type":"not_found_error"}}"#,
    )
    .await;
    assert_eq!(
        items,
        vec![Err(BackendError::NotInstalled {
            model: "gemma-270m".into()
        })]
    );

    let items = status_of(
        503,
        r#"{"error":{"message":"Loading model","type":"unavailable_error","code":503}}"#,
    )
    .await;
    assert_eq!(
        items,
        vec![Err(BackendError::Busy {
            message: "Loading model".into()
        })]
    );

    let items = status_of(500, r#"{"error":{"message":"boom","type":"api_error"}}"#).await;
    assert_eq!(
        items,
        vec![Err(BackendError::Status {
            status: 500,
            message: "boom".into()
        })]
    );
}

#[tokio::test]
async fn a_404_for_a_wrong_route_is_not_mistaken_for_a_missing_model() {
    let items = status_of(
        404,
        r#"{"error":{"message":"File Not Found","type":"not_found_error","code":404}}"#,
    )
    .await;
    assert_eq!(
        items,
        vec![Err(BackendError::BadRequest {
            status: 404,
            message: "File Not Found".into()
        })]
    );
}

#[tokio::test]
async fn the_api_key_from_the_environment_is_sent_as_bearer_and_never_printed() {
    // PATH is set in every test environment, so the test needs no `set_var`.
    let key = std::env::var("PATH").expect("PATH is set");
    let mut server = serve(vec![
        Step::Send(head(200, SSE)),
        Step::Send(OLLAMA_STYLE.into()),
    ])
    .await;
    let mut config = model(&server.url);
    config.api_key_env = Some("PATH".into());
    let backend = OpenAiBackend::new(&config).expect("backend");
    collect(backend.chat(ask("hi"))).await;
    let sent = server.request().await;
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {}", key.trim()))
    );
    let printed = format!("{backend:?} {backend:#?}");
    assert!(
        !printed.contains(key.trim()),
        "Debug shows the key: {printed}"
    );
    assert!(printed.contains("<set>"), "{printed}");
}

#[tokio::test]
async fn a_missing_api_key_variable_fails_construction_naming_it() {
    let mut config = model(&Url::parse("http://127.0.0.1:9").expect("URL"));
    config.api_key_env = Some("SIGNALBOX_TEST_KEY_THAT_IS_NEVER_SET".into());
    let error = for_model(&config).err().expect("construction must fail");
    assert_eq!(
        error,
        BuildError::MissingApiKey {
            model: "gemma-270m".into(),
            var: "SIGNALBOX_TEST_KEY_THAT_IS_NEVER_SET".into()
        }
    );
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let mut server = serve(vec![
        Step::Send(head(200, SSE)),
        Step::Send(b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n".to_vec()),
        Step::AwaitClientClose,
    ])
    .await;
    let mut stream = for_model(&model(&server.url))
        .expect("backend")
        .chat(ask("hi"));
    assert_eq!(stream.next().await, Some(Ok(Chunk::Delta("a".into()))));
    drop(stream);
    server.client_closed().await;
}
