//! `cargo run -p step-1`: one producer and three consumers on a small broadcast channel,
//! first the hand-made one, then `tokio::sync::broadcast`, then a side-by-side tally.
//! The scenario itself lives in `demo.rs`.

use clap::Parser;
use step_1::demo::{self, Event, FAST_CONSUMERS, SLOW_CONSUMER, Scenario};

/// Watch a broadcast channel deliver, lag and close.
#[derive(Parser, Debug)]
struct Args {
    /// Messages each channel keeps. Small, so that the slow consumer falls behind.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=1024))]
    capacity: u16,
    /// Messages the producer posts before it hangs up.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(0..=1000))]
    messages: u64,
    /// Scheduler turns carol spends on each message (the producer posts one per turn).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=100))]
    carol_turns: u32,
}

// One thread, no timers, no I/O: the tasks take their turns in the same order on every
// run, so the output is the same on every run too.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let scenario = Scenario {
        capacity: usize::from(args.capacity),
        messages: args.messages,
        carol_turns: args.carol_turns,
    };

    println!(
        "One producer, {} and {} keep up, {} reads {} times slower; capacity {}.",
        FAST_CONSUMERS[0],
        FAST_CONSUMERS[1],
        SLOW_CONSUMER,
        scenario.carol_turns,
        scenario.capacity,
    );

    println!("\n== the hand-made channel (src/channel.rs) ==");
    let ours = demo::run_hand_made(scenario).await;
    print_timeline(&ours);

    println!("\n== tokio::sync::broadcast ==");
    let theirs = demo::run_tokio(scenario).await;
    if theirs == ours {
        // The strongest comparison there is; no need to print it all twice.
        println!("(the same {} events, in the same order)", theirs.len());
    } else {
        print_timeline(&theirs);
    }

    println!("\n== side by side ==");
    println!(
        "{:<9} {:<26} tokio::sync::broadcast",
        "consumer", "hand-made"
    );
    for consumer in [FAST_CONSUMERS[0], FAST_CONSUMERS[1], SLOW_CONSUMER] {
        println!(
            "{consumer:<9} {:<26} {}",
            summary(&ours, consumer),
            summary(&theirs, consumer)
        );
    }
    if !scenario.capacity.is_power_of_two() {
        println!(
            "(tokio rounds a capacity up to a power of two: it kept {}, not {})",
            scenario.capacity.next_power_of_two(),
            scenario.capacity
        );
    }
}

fn print_timeline(events: &[Event]) {
    for event in events {
        println!("{}", demo::describe(event));
    }
}

fn summary(events: &[Event], consumer: &str) -> String {
    let tally = demo::tally(events, consumer);
    let end = if tally.closed { "closed" } else { "open" };
    format!("{} got, {} missed, {end}", tally.received, tally.missed)
}
