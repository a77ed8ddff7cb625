//! A real headless browser for the web client's tests and the book's screenshots.
//!
//! [`Browser`] runs `chromedriver` (which starts Chromium) on a free port and opens one
//! WebDriver session per simulated user; [`Page`] is one such user's tab, with helpers
//! that speak the page contract of PROTOCOL.md ("The web client") and nothing more: a
//! textbox named "Message", Enter sends, and the text a user sees.
//!
//! A machine without Chromium still runs `cargo test` green: [`Browser::start_or_skip`]
//! prints a visible `SKIPPED` line and the test returns early. CI sets
//! [`REQUIRE_BROWSER_ENV`]`=1`, which turns that skip into a failure, so a broken install
//! cannot hide the browser tests.
//!
//! Every wait polls with a short interval under an overall deadline ([`WAIT`]); everything
//! started here is killed when the [`Browser`] is dropped, also when a test panics.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit, mpsc};
use tokio::time::{Instant, sleep, timeout};

use crate::{STARTUP, WAIT};

/// Special keys for [`Page::press_keys`] (`&Key::Tab`, `&Key::Enter`), re-exported so a test
/// needs no WebDriver crate of its own.
pub use fantoccini::key::Key;

/// Set to `1` (CI does) to make a missing browser fail a test instead of skipping it.
pub const REQUIRE_BROWSER_ENV: &str = "CHAT_REQUIRE_BROWSER";

/// How often a wait looks at the page again. Short, because each look is a WebDriver round
/// trip that already takes a few milliseconds.
const POLL: Duration = Duration::from_millis(50);

/// Chromium's flags. Headless and sandbox-free so it runs as root in a container; the rest
/// stop every background connection Chromium would make on its own, which a machine
/// without internet access answers by refusing (and which make runs less repeatable).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // Containers often have a tiny /dev/shm; Chromium then crashes tabs without it.
    "--disable-dev-shm-usage",
    // Screenshots look the same on every machine.
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--lang=en-US",
];

/// The programs a browser test needs, found on `PATH` (or named by
/// `CHAT_CHROMIUM` / `CHAT_CHROMEDRIVER`).
#[derive(Debug, Clone)]
pub struct BrowserTools {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl BrowserTools {
    /// Finds Chromium and chromedriver, or says which one is missing.
    pub fn find() -> anyhow::Result<BrowserTools> {
        let chromium = find_program(
            "CHAT_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let chromedriver = find_program("CHAT_CHROMEDRIVER", &["chromedriver"]);
        match (chromium, chromedriver) {
            (Some(chromium), Some(chromedriver)) => Ok(BrowserTools {
                chromium,
                chromedriver,
            }),
            (chromium, chromedriver) => {
                let missing: Vec<&str> = [
                    chromium.is_none().then_some("chromium"),
                    chromedriver.is_none().then_some("chromedriver"),
                ]
                .into_iter()
                .flatten()
                .collect();
                bail!(
                    "{} not installed (apt-get install chromium chromium-driver)",
                    missing.join(" and ")
                )
            }
        }
    }
}

/// Looks in `$override_var`, then `PATH`, then `/usr/bin` (a test runner may have a
/// trimmed `PATH`).
fn find_program(override_var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(override_var) {
        let path = PathBuf::from(path);
        return is_executable(&path).then_some(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// A running chromedriver, able to open any number of headless Chromium sessions.
pub struct Browser {
    /// chromedriver, leader of its own process group so that dropping the `Browser` can
    /// kill it together with every Chromium process it started.
    driver: Child,
    /// `http://127.0.0.1:PORT`, where chromedriver answers WebDriver requests.
    webdriver_url: String,
    chromium: PathBuf,
    /// Holds one fresh profile directory per session: two Chromiums cannot share one, and
    /// an empty profile means no state leaks from an earlier run.
    scratch: PathBuf,
    sessions: AtomicUsize,
    /// chromedriver's last output lines, to explain a failure.
    log: Arc<Mutex<VecDeque<String>>>,
    /// This test binary's one turn at running a browser, given back when the processes are
    /// gone (fields drop after [`Drop::drop`] has run).
    _turn: SemaphorePermit<'static>,
}

/// Chromium is heavy and CI machines are small: the tests of one binary, which cargo runs
/// in parallel, take turns, so a slow machine makes them slower, never flaky.
static TURN: Semaphore = Semaphore::const_new(1);

impl Browser {
    /// For tests: starts a browser, or returns `None` after printing a visible `SKIPPED`
    /// line when Chromium or chromedriver is not installed. With
    /// `CHAT_REQUIRE_BROWSER=1` a missing browser panics instead. A browser that is
    /// installed but fails to start always panics: that is a real failure.
    pub async fn start_or_skip(test: &str) -> Option<Browser> {
        if let Err(missing) = BrowserTools::find() {
            if std::env::var(REQUIRE_BROWSER_ENV).is_ok_and(|v| v == "1") {
                panic!("browser test {test}: {missing}, and {REQUIRE_BROWSER_ENV}=1 requires it");
            }
            // Straight to the process's stderr: the test harness captures `eprintln!` of a
            // passing test, and this line must be seen in every `cargo test`.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED browser test {test}: {missing}; \
                 set {REQUIRE_BROWSER_ENV}=1 to make this a failure"
            );
            return None;
        }
        match Browser::start().await {
            Ok(browser) => Some(browser),
            Err(e) => panic!("browser test {test}: could not start the browser: {e:#}"),
        }
    }

    /// Starts chromedriver on a port it picks itself and waits for the line announcing it.
    pub async fn start() -> anyhow::Result<Browser> {
        let tools = BrowserTools::find()?;
        let turn = TURN
            .acquire()
            .await
            .expect("the turn semaphore is never closed");
        let scratch = std::env::temp_dir().join(format!(
            "chat-browser-{}-{}",
            std::process::id(),
            BROWSERS_STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("create {}", scratch.display()))?;

        let mut command = Command::new(&tools.chromedriver);
        // Port 0: chromedriver binds a free port and names it in its first lines, so there
        // is no window in which another process could take a port we picked.
        command
            .args(["--port=0", "--log-level=WARNING"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut driver = command
            .spawn()
            .with_context(|| format!("start {}", tools.chromedriver.display()))?;

        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (lines_tx, mut lines) = mpsc::unbounded_channel();
        drain_lines(driver.stdout.take().expect("piped"), log.clone(), lines_tx);
        drain_lines(
            driver.stderr.take().expect("piped"),
            log.clone(),
            mpsc::unbounded_channel().0,
        );

        let mut browser = Browser {
            driver,
            webdriver_url: String::new(),
            chromium: tools.chromium,
            scratch,
            sessions: AtomicUsize::new(0),
            log,
            _turn: turn,
        };
        let port = timeout(STARTUP, async {
            while let Some(line) = lines.recv().await {
                if let Some(port) = parse_started_line(&line) {
                    return Some(port);
                }
            }
            None
        })
        .await;
        match port {
            Ok(Some(port)) => browser.webdriver_url = format!("http://127.0.0.1:{port}"),
            Ok(None) => bail!("chromedriver exited early:\n{}", browser.recent_log()),
            Err(_) => bail!(
                "chromedriver did not report its port within {STARTUP:?}:\n{}",
                browser.recent_log()
            ),
        }
        Ok(browser)
    }

    /// Opens a new headless Chromium window (its own profile, so its own user) at `url`
    /// and waits for the page to load.
    pub async fn open(&self, url: &str) -> Page {
        let profile = self.scratch.join(format!(
            "profile-{}",
            self.sessions.fetch_add(1, Ordering::Relaxed)
        ));
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": self.chromium, "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let client = match timeout(STARTUP, builder.connect(&self.webdriver_url)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!(
                "could not open a Chromium session: {e}\nchromedriver said:\n{}",
                self.recent_log()
            ),
            Err(_) => panic!(
                "Chromium did not open a session within {STARTUP:?}\nchromedriver said:\n{}",
                self.recent_log()
            ),
        };
        let page = Page { client };
        // WebDriver's navigation waits for the load event, so the page's script has run.
        within_page(&format!("loading {url}"), page.client.goto(url)).await;
        page
    }

    fn recent_log(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

static BROWSERS_STARTED: AtomicUsize = AtomicUsize::new(0);

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: killing chromedriver alone would leave its Chromiums running,
        // and a test that panics never gets to close its sessions politely.
        #[cfg(unix)]
        {
            let group = self.driver.id() as libc::pid_t;
            // SAFETY: kill(2) with a negative pid signals that process group; it touches no
            // memory of ours.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Killed Chromium helpers may still be exiting: a few tries, then leave the rest
        // of the temporary directory to the OS.
        for _ in 0..5 {
            if std::fs::remove_dir_all(&self.scratch).is_ok() || !self.scratch.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Forwards `stream`'s lines to `lines` and keeps the last ones in `log`, for the life of
/// the process; a full pipe would otherwise stall chromedriver.
fn drain_lines(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<VecDeque<String>>>,
    lines: mpsc::UnboundedSender<String>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            {
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                if log.len() == 50 {
                    log.pop_front();
                }
                log.push_back(line.clone());
            }
            let _ = lines.send(line);
        }
    });
}

/// Finds the port in chromedriver's `... was started successfully on port 40305.`
fn parse_started_line(line: &str) -> Option<u16> {
    let rest = &line[line.find("started successfully on port ")?..];
    rest.trim_start_matches("started successfully on port ")
        .trim_end_matches('.')
        .trim()
        .parse()
        .ok()
}

/// Awaits a WebDriver command for at most [`WAIT`] and fails the test if it errs.
async fn within_page<T, E: std::fmt::Display>(
    what: &str,
    command: impl Future<Output = Result<T, E>>,
) -> T {
    match timeout(WAIT, command).await {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => panic!("browser: {what} failed: {e}"),
        Err(_) => panic!("browser: {what} took longer than {WAIT:?}"),
    }
}

/// Finds the element whose accessible name is "Message": the control of a
/// `<label>Message</label>` (by `for=` or by nesting), or one with `aria-label="Message"`.
const MESSAGE_BOX: &str = "//*[@id = //label[normalize-space(.)='Message']/@for] \
     | //label[normalize-space(.)='Message']//*[self::input or self::textarea] \
     | //*[(self::input or self::textarea) and @aria-label='Message']";

/// One user's browser window.
pub struct Page {
    client: Client,
}

impl Page {
    /// The WebDriver client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        within_page("running a script", self.client.execute(script, args)).await
    }

    /// What a user sees: the rendered text of the whole page.
    pub async fn text(&self) -> String {
        let text = self
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await;
        text.as_str().unwrap_or_default().to_string()
    }

    pub async fn title(&self) -> String {
        within_page("reading the title", self.client.title()).await
    }

    /// Waits until the page's text contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("the page never showed {needle:?} within {WAIT:?}; it shows:\n{text}");
            }
            sleep(POLL).await;
        }
    }

    /// Waits for the "Message" textbox to exist and accept input (a page may disable it
    /// until it is connected), and returns it.
    pub async fn message_box(&self) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(element) = self.client.find(Locator::XPath(MESSAGE_BOX)).await {
                let enabled = element.is_enabled().await.unwrap_or(false);
                let displayed = element.is_displayed().await.unwrap_or(false);
                if enabled && displayed {
                    return element;
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "the page has no enabled textbox named \"Message\" after {WAIT:?}; it shows:\n{}",
                    self.text().await
                );
            }
            sleep(POLL).await;
        }
    }

    /// Types `text` into the "Message" textbox and presses Enter, as a user would.
    pub async fn send_message(&self, text: &str) {
        let message_box = self.message_box().await;
        within_page("typing a message", message_box.send_keys(text)).await;
        within_page("pressing Enter", message_box.send_keys(&Key::Enter)).await;
    }

    /// Presses `keys` on the keyboard, wherever the focus is (use [`Key`] values such as
    /// `Key::Tab` for special keys); nothing is clicked or focused first.
    pub async fn press_keys(&self, keys: &str) {
        let actions = keys
            .chars()
            .fold(KeyActions::new("keyboard".into()), |a, key| {
                a.then(KeyAction::Down { value: key })
                    .then(KeyAction::Up { value: key })
            });
        within_page("pressing keys", self.client.perform_actions(actions)).await;
    }

    /// Whether `element` has the keyboard focus.
    pub async fn is_focused(&self, element: &Element) -> bool {
        let element = serde_json::to_value(element).expect("an element serializes");
        self.execute(
            "return arguments[0] === document.activeElement;",
            vec![element],
        )
        .await
        .as_bool()
        .unwrap_or(false)
    }

    /// Resizes the window so that the page itself gets `width` x `height` CSS pixels.
    pub async fn set_viewport_size(&self, width: u32, height: u32) {
        // WebDriver sizes the outer window, and even headless Chromium keeps some of that
        // for its (invisible) frame: measure the difference once and grow by it.
        self.resize_window(width, height).await;
        let inner = self
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await;
        let measured = |i: usize| inner[i].as_u64().map_or(0, |v| v as u32);
        let (inner_width, inner_height) = (measured(0), measured(1));
        let grown = |want: u32, got: u32| (2 * want).saturating_sub(got).max(want);
        if (inner_width, inner_height) != (width, height) && inner_width > 0 && inner_height > 0 {
            self.resize_window(grown(width, inner_width), grown(height, inner_height))
                .await;
        }
    }

    async fn resize_window(&self, width: u32, height: u32) {
        within_page(
            "resizing the window",
            self.client.set_window_size(width, height),
        )
        .await;
    }

    /// A PNG of what the window shows.
    pub async fn screenshot(&self) -> Vec<u8> {
        within_page("taking a screenshot", self.client.screenshot()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_port_in_chromedriver_s_banner() {
        let line = "ChromeDriver was started successfully on port 40305.";
        assert_eq!(parse_started_line(line), Some(40305));
        assert_eq!(
            parse_started_line("Only local connections are allowed."),
            None
        );
    }
}
