//! The chat-completions client against a local server speaking the real protocol: the
//! request carries the model, the system prompt and the frames as JPEG data URLs; transient
//! failures are retried and every other failure is classified, never hung on.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nexis::llm::{ChatClient, ChatRequest, LlmError, LlmProvider, RateLimiter, RetryPolicy};

use crate::chat_server::{Answer, CHAT_KEY, ChatServer, image_urls};

fn client(server: &ChatServer, key: &str, timeout: Duration) -> ChatClient {
    let provider = LlmProvider::from_settings(Some(key), Some(&server.base_url()), None).expect("provider");
    ChatClient::new(provider, "local-model".into(), timeout, 4).expect("client").with_retry(RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        rate_limit_retries: 2,
    })
}

const JPEG: [u8; 6] = [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10];

fn request(images: &[Vec<u8>]) -> ChatRequest<'_> {
    ChatRequest { system: "be brief", text: "describe", images, max_tokens: 50, temperature: 0.0, schema: None }
}

#[tokio::test]
async fn request_body_carries_model_prompt_and_jpeg_data_urls() {
    let server = ChatServer::start(|_, _| Answer::Text("a caption".into())).await;
    let frames = vec![JPEG.to_vec(), JPEG.to_vec()];
    let reply = client(&server, CHAT_KEY, Duration::from_secs(10)).complete(&request(&frames)).await;
    assert_eq!(reply.expect("reply"), "a caption");
    let bodies = server.requests();
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    assert_eq!(body["model"], "local-model");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], "be brief");
    assert_eq!(body["messages"][1]["content"][0], serde_json::json!({"type": "text", "text": "describe"}));
    assert_eq!(body["max_tokens"], 50);
    assert_eq!(image_urls(body), vec!["data:image/jpeg;base64,/9j/4AAQ".to_string(); 2]);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let server = ChatServer::start(|_, n| match n {
        0 => Answer::Status(429),
        1 => Answer::Status(503),
        _ => Answer::Text("third time".into()),
    })
    .await;
    let reply = client(&server, CHAT_KEY, Duration::from_secs(10)).complete(&request(&[])).await;
    assert_eq!(reply.expect("retried"), "third time");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn persistent_server_errors_end_as_server_error_after_the_attempts() {
    let server = ChatServer::start(|_, _| Answer::Status(500)).await;
    let err = client(&server, CHAT_KEY, Duration::from_secs(10)).complete(&request(&[])).await.expect_err("500");
    assert!(matches!(err, LlmError::Server(500)), "{err:?}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn auth_and_not_found_are_config_errors_without_retry() {
    let server = ChatServer::start(|_, _| Answer::Status(404)).await;
    let err = client(&server, "sk-wrong", Duration::from_secs(10)).complete(&request(&[])).await.expect_err("401");
    assert!(matches!(err, LlmError::Config { status: 401, .. }), "{err:?}");
    assert!(err.to_string().contains("check the API key"), "{err}");
    assert!(!err.to_string().contains("sk-wrong"), "the key never appears in errors");
    let err = client(&server, CHAT_KEY, Duration::from_secs(10)).complete(&request(&[])).await.expect_err("404");
    assert!(matches!(err, LlmError::Config { status: 404, .. }), "{err:?}");
    assert_eq!(server.requests().len(), 1, "the 401 is refused before recording; the 404 is not retried");
}

#[tokio::test]
async fn a_slow_server_times_out_on_every_attempt() {
    let server =
        ChatServer::start(|_, _| Answer::Delay(Duration::from_secs(30), Box::new(Answer::Text("late".into())))).await;
    let err = client(&server, CHAT_KEY, Duration::from_millis(200)).complete(&request(&[])).await.expect_err("timeout");
    assert!(matches!(err, LlmError::Timeout(_)), "{err:?}");
    assert_eq!(err.class(), "timeout");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_reply_that_is_not_a_completion_is_a_bad_reply() {
    let server = ChatServer::start(|_, _| Answer::Raw("<html>hello</html>".into())).await;
    let err = client(&server, CHAT_KEY, Duration::from_secs(10)).complete(&request(&[])).await.expect_err("bad");
    assert!(matches!(err, LlmError::BadReply(_)), "{err:?}");
    assert_eq!(server.requests().len(), 1, "bad replies are not retried by the client");
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let provider = LlmProvider::from_settings(Some(CHAT_KEY), Some(&format!("http://{addr}/v1")), None).expect("p");
    let client =
        ChatClient::new(provider, "m".into(), Duration::from_secs(5), 1).expect("client").with_retry(RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            rate_limit_retries: 0,
        });
    let err = client.complete(&request(&[])).await.expect_err("refused");
    assert!(matches!(err, LlmError::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let server = ChatServer::start(|_, n| match n {
        0 => Answer::TooMany(vec![("retry-after-ms", "400".into())]),
        1 => Answer::TooMany(vec![("retry-after", "1".into())]),
        _ => Answer::Text("after the wait".into()),
    })
    .await;
    let rate = Arc::new(RateLimiter::new(None));
    let client = client(&server, CHAT_KEY, Duration::from_secs(10)).with_rate_limiter(rate.clone());
    let started = Instant::now();
    let reply = client.complete(&request(&[])).await.expect("answered after the 429s");
    assert_eq!(reply, "after the wait");
    assert!(started.elapsed() >= Duration::from_millis(1400), "waited {:?}", started.elapsed());
    assert_eq!((server.requests().len(), rate.rate_limited(), rate.requests()), (3, 2, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_pauses_every_client_sharing_the_limiter() {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    let server = ChatServer::start(move |_, n| {
        seen.lock().expect("lock").push(Instant::now());
        if n == 0 { Answer::TooMany(vec![("retry-after-ms", "800".into())]) } else { Answer::Text("ok".into()) }
    })
    .await;
    let rate = Arc::new(RateLimiter::new(None));
    let first = client(&server, CHAT_KEY, Duration::from_secs(10)).with_rate_limiter(rate.clone());
    let second = client(&server, CHAT_KEY, Duration::from_secs(10)).with_rate_limiter(rate.clone());
    let a = tokio::spawn(async move { first.complete(&request(&[])).await });
    while rate.rate_limited() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The first client has its 429; the second asks now and must wait out the same pause.
    assert_eq!(second.complete(&request(&[])).await.expect("second"), "ok");
    assert_eq!(a.await.expect("join").expect("first"), "ok");
    let arrivals = arrivals.lock().expect("lock").clone();
    assert_eq!(arrivals.len(), 3);
    for later in &arrivals[1..] {
        assert!(*later - arrivals[0] >= Duration::from_millis(800), "{:?}", *later - arrivals[0]);
    }
}

#[tokio::test]
async fn a_provider_that_keeps_answering_429_ends_as_rate_limited_after_the_retries() {
    let server = ChatServer::start(|_, _| Answer::TooMany(vec![("retry-after-ms", "10".into())])).await;
    let err = client(&server, CHAT_KEY, Duration::from_secs(10)).complete(&request(&[])).await.expect_err("429");
    assert!(matches!(err, LlmError::RateLimited { status: 429, retry_after: Some(_) }), "{err:?}");
    // Two rate-limit retries, then the ordinary attempts (3) are spent on it as well.
    assert_eq!(server.requests().len(), 2 + 3);
}
