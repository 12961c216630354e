//! The records decoded and not yet stored: those waiting, and the groups being stored. A
//! record waits only while every group is busy; nothing waits for a group to fill.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::progress::Ticket;

/// Records decoded and not yet stored: those waiting for a group to finish, and the groups
/// being stored.
pub(super) struct Groups<T> {
    max: usize,
    /// Waiting: their tickets and items, in fetch order.
    tickets: Vec<Ticket>,
    items: Vec<T>,
    /// Records in the groups being stored.
    storing_records: usize,
    pub(super) storing: JoinSet<Stored>,
}

/// A group whose items are all durable.
pub(super) struct Stored {
    pub(super) tickets: Vec<Ticket>,
    /// From the group's start to its last item durable.
    pub(super) took: Duration,
}

impl<T> Groups<T> {
    pub(super) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            tickets: Vec::new(),
            items: Vec::new(),
            storing_records: 0,
            storing: JoinSet::new(),
        }
    }

    /// Records waiting or being stored.
    pub(super) fn records(&self) -> usize {
        self.tickets.len() + self.storing_records
    }

    pub(super) fn waiting(&mut self, ticket: Ticket, item: T) {
        self.tickets.push(ticket);
        self.items.push(item);
    }

    pub(super) fn finished(&mut self, stored: &Stored) {
        self.storing_records -= stored.tickets.len();
    }

    /// Starts storing what waits as one group, when a group may start.
    pub(super) fn start_waiting<F: Future<Output = ()> + Send + 'static>(
        &mut self,
        store: &impl Fn(Vec<T>) -> F,
    ) {
        if self.storing.len() < self.max {
            self.start_anyway(store);
        }
    }

    /// Starts storing what waits as one group, however many are being stored.
    pub(super) fn start_anyway<F: Future<Output = ()> + Send + 'static>(
        &mut self,
        store: &impl Fn(Vec<T>) -> F,
    ) {
        if self.tickets.is_empty() {
            return;
        }
        let tickets = std::mem::take(&mut self.tickets);
        let work = store(std::mem::take(&mut self.items));
        self.storing_records += tickets.len();
        self.storing.spawn(async move {
            let start = Instant::now();
            work.await;
            Stored {
                tickets,
                took: start.elapsed(),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn ticket(seq: u64) -> Ticket {
        Ticket { partition: 0, seq }
    }

    /// A store that takes 10 ms a group and lists the groups it was given.
    fn slow_store(
        groups: &Arc<Mutex<Vec<Vec<u64>>>>,
    ) -> impl Fn(Vec<u64>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        let groups = groups.clone();
        move |items: Vec<u64>| {
            groups.lock().unwrap().push(items);
            Box::pin(tokio::time::sleep(Duration::from_millis(10)))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_is_stored_at_once_when_a_group_is_free() {
        let given = Arc::new(Mutex::new(Vec::new()));
        let store = slow_store(&given);
        let mut groups = Groups::new(2);
        groups.waiting(ticket(0), 0);
        groups.start_waiting(&store);
        // No time has passed: the record did not wait for others to join it.
        assert_eq!(*given.lock().unwrap(), [vec![0]]);
        groups.waiting(ticket(1), 1);
        groups.start_waiting(&store);
        assert_eq!(*given.lock().unwrap(), [vec![0], vec![1]]);
        assert_eq!(groups.records(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn what_arrives_while_every_group_is_busy_goes_together_when_one_finishes() {
        let given = Arc::new(Mutex::new(Vec::new()));
        let store = slow_store(&given);
        let mut groups = Groups::new(1);
        for seq in 0..4 {
            groups.waiting(ticket(seq), seq);
            groups.start_waiting(&store);
        }
        assert_eq!(*given.lock().unwrap(), [vec![0]], "1 to 3 wait");
        assert_eq!(groups.records(), 4);
        let stored = groups.storing.join_next().await.unwrap().unwrap();
        assert_eq!(stored.tickets, [ticket(0)], "settled only once stored");
        assert_eq!(stored.took, Duration::from_millis(10));
        groups.finished(&stored);
        groups.start_waiting(&store);
        assert_eq!(*given.lock().unwrap(), [vec![0], vec![1, 2, 3]]);
        assert_eq!(groups.records(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_is_settled_only_when_its_store_returns() {
        let mut groups = Groups::new(1);
        groups.waiting(ticket(0), ());
        // A store that is never done: its records are never settled.
        groups.start_waiting(&|_: Vec<()>| std::future::pending::<()>());
        let waited =
            tokio::time::timeout(Duration::from_secs(3600), groups.storing.join_next()).await;
        assert!(waited.is_err());
        assert_eq!(groups.records(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn at_a_stop_what_waits_is_stored_however_many_groups_are_busy() {
        let given = Arc::new(Mutex::new(Vec::new()));
        let store = slow_store(&given);
        let mut groups = Groups::new(1);
        for seq in 0..3 {
            groups.waiting(ticket(seq), seq);
            groups.start_waiting(&store);
        }
        groups.start_anyway(&store);
        assert_eq!(*given.lock().unwrap(), [vec![0], vec![1, 2]]);
    }
}
