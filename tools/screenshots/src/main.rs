//! `cargo run -p screenshots`: a picture of each step's web page for the book.
//!
//! For every step with a web page it builds the step's server, starts it on a free port,
//! plays a short conversation (alice in a headless Chromium, bob and carol as WebSocket
//! clients) and saves what alice sees as `step-N.png`. Each wait is for an event (a frame,
//! the page showing a message), never a fixed sleep, so the picture is taken as soon as the
//! conversation is on screen.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use chat_test_support::browser::{Browser, Page};
use chat_test_support::{ServerProcess, WsClient};
use clap::Parser;
use serde_json::{Value, json};

/// The steps that serve a web page at `/`. A new step with a page is added here, and its
/// chapter shows `images/step-N.png`.
const STEPS_WITH_A_PAGE: &[u32] = &[4, 5, 6, 7, 8];

#[derive(Parser, Debug)]
#[command(about = "Screenshots each step's web page in a realistic state, for the book")]
struct Args {
    /// Only this step (repeat for several) [default: every step with a web page].
    #[arg(long = "step", value_name = "N")]
    steps: Vec<u32>,
    /// Where to write `step-N.png` [default: the book's `book/src/images`].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Page width in CSS pixels. The page's column is 48rem wide: 800 fills the picture
    /// and keeps it legible when the book scales it to its text width.
    #[arg(long, default_value_t = 800)]
    width: u32,
    /// Page height in CSS pixels: enough for the conversation and the message box.
    #[arg(long, default_value_t = 560)]
    height: u32,
}

/// Who says what, in order. `None` is alice, typing in the browser; the others speak
/// over WebSocket. Short lines, so the picture shows a conversation rather than a wall.
const CONVERSATION: &[(Option<&str>, &str)] = &[
    (Some("bob"), "Morning! Is the build green again?"),
    (
        None,
        "It is: the flaky test slept before connecting, now it waits for the listening line.",
    ),
    (
        Some("carol"),
        "Nice. Who wants to review the rooms chapter?",
    ),
    (Some("bob"), "Me, after lunch."),
    (None, "I'll take the loom part."),
    (Some("carol"), "Thanks, both!"),
];

/// Left in alice's message box, unsent, so the picture shows the box in use.
const DRAFT: &str = "See you at the stand-up";

/// Where the conversation happens, from step 5 on (`&room=`). Steps before rooms ignore
/// query parameters they do not know, so one scenario serves every step.
const ROOM: &str = "rust";

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| workspace.join("book/src/images"));
    let steps = if args.steps.is_empty() {
        STEPS_WITH_A_PAGE.to_vec()
    } else {
        args.steps.clone()
    };
    for step in &steps {
        ensure!(
            STEPS_WITH_A_PAGE.contains(step),
            "step {step} has no web page (steps with one: {STEPS_WITH_A_PAGE:?})"
        );
    }
    std::fs::create_dir_all(&out).with_context(|| format!("create {}", out.display()))?;

    let browser = Browser::start().await.context("start the browser")?;
    for step in steps {
        let binary = build_step(&workspace, step)?;
        let png = screenshot_step(&browser, &binary, args.width, args.height).await;
        let (width, height) = png_size(&png).context("Chromium's screenshot is not a PNG")?;
        let path = out.join(format!("step-{step}.png"));
        std::fs::write(&path, &png).with_context(|| format!("write {}", path.display()))?;
        let shown = path.canonicalize().unwrap_or(path);
        println!("wrote {} ({width}x{height})", shown.display());
    }
    Ok(())
}

/// Builds `step-N` with the same cargo that runs us and returns its binary, wherever
/// the target directory is.
fn build_step(workspace: &Path, step: u32) -> Result<PathBuf> {
    let package = format!("step-{step}");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--quiet", "-p", &package])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("run cargo build -p {package}"))?;
    if !output.status.success() {
        bail!("cargo build -p {package} failed");
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == package
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .with_context(|| format!("cargo build -p {package} reported no binary"))
}

/// Plays [`CONVERSATION`] on a fresh server and returns alice's view as a PNG.
async fn screenshot_step(browser: &Browser, binary: &Path, width: u32, height: u32) -> Vec<u8> {
    let server = ServerProcess::start(binary.to_str().expect("a UTF-8 path"), &[]).await;
    // bob is there first, so alice's page starts with a quiet room and then sees carol
    // arrive: one join notice, as in a real conversation.
    let mut bob = WsClient::connect(&server.ws_url(&format!("/ws?user=bob&room={ROOM}"))).await;
    bob.recv_type("welcome").await;

    let alice = browser
        .open(&format!("http://{}/?user=alice&room={ROOM}", server.addr()))
        .await;
    alice.set_viewport_size(width, height).await;
    wait_for_join(&mut bob, "alice").await;
    alice.message_box().await;

    let mut carol = WsClient::connect(&server.ws_url(&format!("/ws?user=carol&room={ROOM}"))).await;
    carol.recv_type("welcome").await;
    wait_for_join(&mut bob, "carol").await;

    for (speaker, text) in CONVERSATION {
        match speaker {
            None => alice.send_message(text).await,
            Some("bob") => say(&mut bob, text).await,
            Some(_) => say(&mut carol, text).await,
        }
        // One line at a time, so the page shows them in this order.
        alice.wait_for_text(text).await;
    }
    type_draft(&alice).await;
    alice.screenshot().await
}

async fn say(client: &mut WsClient, text: &str) {
    client
        .send_json(&json!({ "type": "message", "text": text }))
        .await;
}

/// Waits until `watcher` hears that `user` joined, i.e. the server has subscribed them.
async fn wait_for_join(watcher: &mut WsClient, user: &str) {
    while watcher.recv_type("joined").await["user"] != user {}
}

async fn type_draft(page: &Page) {
    let message_box = page.message_box().await;
    message_box
        .send_keys(DRAFT)
        .await
        .expect("type into the message box");
}

/// Width and height from a PNG's header chunk.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !png.starts_with(SIGNATURE) || png.len() < 24 || &png[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(png[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(png[20..24].try_into().ok()?);
    Some((width, height))
}
