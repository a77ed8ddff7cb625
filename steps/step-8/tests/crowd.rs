//! Many people at once: a crowd that arrives together, and a crowd that leaves together.
//! Every member that keeps reading must stay connected through the burst of `joined` or
//! `left` frames, and hear what is said after it.

use std::sync::Arc;

use chat_test_support::{Message, ServerProcess, WsClient, within};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

const SERVER: &str = env!("CARGO_BIN_EXE_step-8");

/// How many members the crowd has.
const CROWD: usize = 200;

/// Reads frames until a chat message with `text` arrives. `Err` says what ended the
/// connection instead: a close frame (1013 when the member could not keep up).
async fn read_until(client: &mut WsClient, text: &str) -> Result<(), String> {
    loop {
        match client.recv().await {
            Message::Text(json) => {
                let frame: Value = serde_json::from_str(&json).expect("a JSON frame");
                if frame["type"] == "message" && frame["text"] == text {
                    return Ok(());
                }
            }
            Message::Close(frame) => return Err(format!("closed: {frame:?}")),
            other => return Err(format!("unexpected {other:?}")),
        }
    }
}

/// Connects as `user` and waits for its welcome.
async fn enter(server: &ServerProcess, user: &str) -> WsClient {
    let mut client = WsClient::connect(&server.ws_url(&format!("/ws?user={user}"))).await;
    let welcome = client.recv_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    client
}

/// Says `text` as a newcomer and waits for its own copy: by then every member has it
/// queued.
async fn announce(server: &ServerProcess, user: &str, text: &str) {
    let mut speaker = enter(server, user).await;
    speaker
        .send_json(&json!({"type": "message", "text": text}))
        .await;
    read_until(&mut speaker, text)
        .await
        .expect("the speaker hears itself");
}

/// [`CROWD`] members connect, `opening_at_once` at a time, and each reads from the moment
/// its welcome arrives, as a browser does. Once all are in, a newcomer says hello and
/// every member must hear it. Then the first `leaving` members disconnect at the same
/// moment, another newcomer speaks, and every member left must hear that too.
async fn crowd(opening_at_once: usize, leaving: usize) {
    let server = Arc::new(ServerProcess::start(SERVER, &[]).await);
    let opening = Arc::new(Semaphore::new(opening_at_once));
    let (arrived, mut arrivals) = mpsc::unbounded_channel();
    let mut members = Vec::new();
    for n in 0..CROWD {
        let (server, opening, arrived) = (server.clone(), opening.clone(), arrived.clone());
        members.push(tokio::spawn(async move {
            let permit = opening.acquire().await.expect("semaphore open");
            let mut client = enter(&server, &format!("m{n}")).await;
            drop(permit);
            arrived.send(()).expect("the test is waiting");
            read_until(&mut client, "hello, everyone").await?;
            if n < leaving {
                return Ok(Some(client)); // the test drops it, together with the others
            }
            read_until(&mut client, "still here?").await?;
            Ok::<_, String>(None)
        }));
    }
    drop(arrived);
    within("the whole crowd to arrive", async {
        for _ in 0..CROWD {
            arrivals.recv().await.expect("a member arrived");
        }
    })
    .await;

    announce(&server, "host", "hello, everyone").await;
    let mut staying = members.split_off(leaving);
    let mut gone = Vec::new();
    for (n, member) in members.into_iter().enumerate() {
        match within("a member to hear the host", member).await {
            Ok(Ok(client)) => gone.push(client),
            Ok(Err(why)) => panic!("m{n} was dropped while the crowd arrived: {why}"),
            Err(panicked) => panic!("m{n} failed while the crowd arrived: {panicked}"),
        }
    }
    drop(gone); // all at once: a burst of `left` frames for everyone else

    announce(&server, "host2", "still here?").await;
    for (n, member) in staying.drain(..).enumerate() {
        let n = n + leaving;
        match within("a member to hear the second message", member).await {
            Ok(Ok(_)) => {}
            Ok(Err(why)) => panic!("m{n} was dropped ({leaving} others left at once): {why}"),
            Err(panicked) => panic!("m{n} failed ({leaving} others left at once): {panicked}"),
        }
    }
}

#[tokio::test]
async fn a_crowd_arriving_at_once_drops_no_reader() {
    crowd(CROWD, 0).await;
}

#[tokio::test]
async fn a_crowd_leaving_at_once_drops_no_reader() {
    // Arriving a few at a time, so that only the departures are a burst.
    crowd(25, 150).await;
}
