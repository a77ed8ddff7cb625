//! The terminal demo: one producer task posts messages, three consumer tasks read them.
//!
//! The same scenario runs twice, on the hand-made channel and on `tokio::sync::broadcast`,
//! and returns a timeline of what happened, so that `main.rs` can print it and the tests
//! can check it.
//!
//! alice and bob keep up. carol is slow on purpose: she spends a few scheduler turns on
//! each message while the producer posts one message per turn, so with a small capacity
//! the ring laps her and she sees `Lagged`. On a single-threaded runtime, with no timers
//! and no I/O, the order of turns is the same on every run, so the output is too.

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio::task::yield_now;

use crate::channel;

/// The consumers that read each message as soon as it comes.
pub const FAST_CONSUMERS: [&str; 2] = ["alice", "bob"];
/// The deliberately slow consumer.
pub const SLOW_CONSUMER: &str = "carol";

/// What the demo lets you change from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// How many messages each channel keeps. Small, so that carol visibly falls behind.
    pub capacity: usize,
    /// How many messages the producer posts before it hangs up.
    pub messages: u64,
    /// Scheduler turns carol spends on each message. The producer posts one message per
    /// turn, so this is how many times slower than the producer she reads.
    pub carol_turns: u32,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            capacity: 2,
            messages: 8,
            carol_turns: 3,
        }
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The producer posted `text`, and `send` said it reached `receivers` receivers.
    Posted { text: String, receivers: usize },
    /// The producer dropped its sender: nothing new can come, the channel closes.
    HungUp,
    /// A consumer's `recv` returned `outcome`.
    Received {
        consumer: &'static str,
        outcome: Outcome,
    },
}

/// What one `recv` returned, the same for both channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Message(String),
    Lagged(u64),
    Closed,
}

// ANCHOR: inbox
/// The one thing a consumer needs from a channel: wait for the next outcome. Both
/// receivers implement it, so one scenario drives both channels. Each `RecvError` is
/// matched by name: a new variant would be a compile error here, not a silent end.
pub trait Inbox: Send + 'static {
    fn next(&mut self) -> impl Future<Output = Outcome> + Send;
}

impl Inbox for channel::Receiver<String> {
    async fn next(&mut self) -> Outcome {
        match self.recv().await {
            Ok(text) => Outcome::Message(text),
            Err(channel::RecvError::Lagged(missed)) => Outcome::Lagged(missed),
            Err(channel::RecvError::Closed) => Outcome::Closed,
        }
    }
}

impl Inbox for broadcast::Receiver<String> {
    async fn next(&mut self) -> Outcome {
        match self.recv().await {
            Ok(text) => Outcome::Message(text),
            Err(broadcast::error::RecvError::Lagged(missed)) => Outcome::Lagged(missed),
            Err(broadcast::error::RecvError::Closed) => Outcome::Closed,
        }
    }
}
// ANCHOR_END: inbox

// ANCHOR: run_both
/// Runs the scenario on the hand-made channel.
pub async fn run_hand_made(scenario: Scenario) -> Vec<Event> {
    let (sender, first) = channel::channel(scenario.capacity);
    let inboxes = [first, sender.subscribe(), sender.subscribe()];
    // A send fails only when no receiver is left, which is zero receivers reached.
    run(scenario, inboxes, move |text| {
        sender.send(text).unwrap_or(0)
    })
    .await
}

/// Runs the same scenario on `tokio::sync::broadcast`.
pub async fn run_tokio(scenario: Scenario) -> Vec<Event> {
    let (sender, first) = broadcast::channel(scenario.capacity);
    let inboxes = [first, sender.subscribe(), sender.subscribe()];
    run(scenario, inboxes, move |text| {
        sender.send(text).unwrap_or(0)
    })
    .await
}
// ANCHOR_END: run_both

// ANCHOR: run
/// Spawns one task per consumer, posts the messages, hangs up, and waits for every
/// consumer to see the close. `post` owns the sender, so dropping `post` is hanging up.
async fn run(
    scenario: Scenario,
    inboxes: [impl Inbox; 3],
    post: impl Fn(String) -> usize,
) -> Vec<Event> {
    let timeline = Timeline::default();
    let names = [FAST_CONSUMERS[0], FAST_CONSUMERS[1], SLOW_CONSUMER];
    let consumers: Vec<_> = names
        .into_iter()
        .zip(inboxes)
        .map(|(name, inbox)| {
            let turns = if name == SLOW_CONSUMER {
                scenario.carol_turns
            } else {
                0
            };
            tokio::spawn(consume(name, turns, inbox, timeline.clone()))
        })
        .collect();

    for n in 1..=scenario.messages {
        let text = format!("message {n}");
        let receivers = post(text.clone());
        timeline.record(Event::Posted { text, receivers });
        // One message per turn: let every consumer that is ready run before the next.
        yield_now().await;
    }
    drop(post);
    timeline.record(Event::HungUp);

    for consumer in consumers {
        consumer.await.expect("a consumer task panicked");
    }
    timeline.events()
}
// ANCHOR_END: run

// ANCHOR: consume
/// One consumer task: read until the channel is closed, spending `turns` scheduler
/// turns on each message.
async fn consume(name: &'static str, turns: u32, mut inbox: impl Inbox, timeline: Timeline) {
    loop {
        let outcome = inbox.next().await;
        let is_message = matches!(outcome, Outcome::Message(_));
        let is_closed = outcome == Outcome::Closed;
        timeline.record(Event::Received {
            consumer: name,
            outcome,
        });
        if is_closed {
            return;
        }
        if is_message {
            // "Working" on the message. Each yield gives the producer a turn to post
            // another one, so the ring moves on while this consumer is busy.
            for _ in 0..turns {
                yield_now().await;
            }
        }
    }
}
// ANCHOR_END: consume

/// The events of one run, in the order they happened, shared by all its tasks.
///
/// A std mutex, not tokio's: it is held only to push one event, never across an
/// `.await`, and an uncontended std mutex is the cheapest lock there is.
#[derive(Clone, Default)]
struct Timeline(Arc<Mutex<Vec<Event>>>);

impl Timeline {
    fn record(&self, event: Event) {
        self.0.lock().expect("timeline lock").push(event);
    }

    fn events(&self) -> Vec<Event> {
        self.0.lock().expect("timeline lock").clone()
    }
}

/// How one consumer fared, for the side-by-side table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub received: u64,
    pub missed: u64,
    pub closed: bool,
}

/// What `consumer` saw, in order.
pub fn outcomes_of(events: &[Event], consumer: &str) -> Vec<Outcome> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Received {
                consumer: who,
                outcome,
            } if *who == consumer => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

/// Counts what `consumer` received and was told it missed.
pub fn tally(events: &[Event], consumer: &str) -> Tally {
    let mut tally = Tally {
        received: 0,
        missed: 0,
        closed: false,
    };
    for outcome in outcomes_of(events, consumer) {
        match outcome {
            Outcome::Message(_) => tally.received += 1,
            Outcome::Lagged(missed) => tally.missed += missed,
            Outcome::Closed => tally.closed = true,
        }
    }
    tally
}

/// One timeline event as a line of terminal output.
pub fn describe(event: &Event) -> String {
    match event {
        Event::Posted { text, receivers } => {
            format!("producer  posts {text:?} to {receivers} receivers")
        }
        Event::HungUp => "producer  hangs up (drops its sender)".to_string(),
        Event::Received { consumer, outcome } => match outcome {
            Outcome::Message(text) => format!("{consumer:<9} got {text:?}"),
            Outcome::Lagged(missed) => {
                format!("{consumer:<9} LAGGED: missed {missed}, skips to the oldest kept")
            }
            Outcome::Closed => format!("{consumer:<9} sees Closed and stops"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_consumers() -> [&'static str; 3] {
        [FAST_CONSUMERS[0], FAST_CONSUMERS[1], SLOW_CONSUMER]
    }

    fn messages(range: std::ops::RangeInclusive<u64>) -> Vec<Outcome> {
        range
            .map(|n| Outcome::Message(format!("message {n}")))
            .collect()
    }

    #[tokio::test]
    async fn fast_consumers_get_every_message_in_order_then_closed() {
        let scenario = Scenario::default();
        for events in [run_hand_made(scenario).await, run_tokio(scenario).await] {
            for consumer in FAST_CONSUMERS {
                let mut expected = messages(1..=scenario.messages);
                expected.push(Outcome::Closed);
                assert_eq!(outcomes_of(&events, consumer), expected, "{consumer}");
            }
        }
    }

    #[tokio::test]
    async fn the_slow_consumer_lags_and_is_told_exactly_how_much() {
        let scenario = Scenario::default();
        for events in [run_hand_made(scenario).await, run_tokio(scenario).await] {
            let carol = tally(&events, SLOW_CONSUMER);
            assert!(carol.missed > 0, "carol should lag: {carol:?}");
            assert_eq!(carol.received + carol.missed, scenario.messages);
            assert!(carol.closed);
        }
    }

    #[tokio::test]
    async fn after_lagging_the_slow_consumer_still_reads_in_order_and_gets_the_last() {
        let scenario = Scenario::default();
        let events = run_hand_made(scenario).await;
        let received: Vec<u64> = outcomes_of(&events, SLOW_CONSUMER)
            .into_iter()
            .filter_map(|outcome| match outcome {
                Outcome::Message(text) => text.strip_prefix("message ")?.parse().ok(),
                _ => None,
            })
            .collect();
        assert!(received.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(received.last(), Some(&scenario.messages));
    }

    #[tokio::test]
    async fn with_room_for_every_message_nobody_lags() {
        let scenario = Scenario {
            capacity: 8,
            ..Scenario::default()
        };
        let events = run_hand_made(scenario).await;
        for consumer in all_consumers() {
            let mut expected = messages(1..=scenario.messages);
            expected.push(Outcome::Closed);
            assert_eq!(outcomes_of(&events, consumer), expected, "{consumer}");
        }
    }

    #[tokio::test]
    async fn the_hand_made_channel_and_tokio_agree_on_what_each_consumer_saw() {
        // Capacities that are powers of two: tokio rounds any other capacity up.
        for capacity in [1, 2, 4] {
            let scenario = Scenario {
                capacity,
                ..Scenario::default()
            };
            let ours = run_hand_made(scenario).await;
            let theirs = run_tokio(scenario).await;
            for consumer in all_consumers() {
                assert_eq!(
                    outcomes_of(&ours, consumer),
                    outcomes_of(&theirs, consumer),
                    "{consumer} with capacity {capacity}"
                );
            }
        }
    }

    #[tokio::test]
    async fn every_post_reaches_all_three_receivers_and_the_hang_up_comes_last_from_the_producer() {
        let events = run_hand_made(Scenario::default()).await;
        let producer: Vec<_> = events
            .iter()
            .filter(|event| !matches!(event, Event::Received { .. }))
            .collect();
        assert_eq!(producer.len(), 9);
        assert!(
            producer[..8]
                .iter()
                .all(|event| matches!(event, Event::Posted { receivers: 3, .. }))
        );
        assert_eq!(producer[8], &Event::HungUp);
    }

    #[test]
    fn tally_adds_up_messages_and_lag() {
        let got = |text: &str| Event::Received {
            consumer: "carol",
            outcome: Outcome::Message(text.to_string()),
        };
        let events = [
            got("message 1"),
            Event::Received {
                consumer: "carol",
                outcome: Outcome::Lagged(2),
            },
            got("message 4"),
            Event::Received {
                consumer: "alice",
                outcome: Outcome::Lagged(9),
            },
            Event::Received {
                consumer: "carol",
                outcome: Outcome::Closed,
            },
        ];
        assert_eq!(
            tally(&events, "carol"),
            Tally {
                received: 2,
                missed: 2,
                closed: true
            }
        );
    }

    #[test]
    fn describe_names_who_did_what() {
        let lagged = Event::Received {
            consumer: "carol",
            outcome: Outcome::Lagged(3),
        };
        assert_eq!(
            describe(&lagged),
            "carol     LAGGED: missed 3, skips to the oldest kept"
        );
        let posted = Event::Posted {
            text: "message 1".to_string(),
            receivers: 3,
        };
        assert_eq!(
            describe(&posted),
            "producer  posts \"message 1\" to 3 receivers"
        );
    }
}
